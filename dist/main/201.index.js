export const id = 201;
export const ids = [201];
export const modules = {

/***/ 201:
/***/ ((__unused_webpack_module, exports, __webpack_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.CallCounter = exports.DEFAULT_MAX_SOCKETS = void 0;
exports.createDynamoDbClient = createDynamoDbClient;
exports.createKmsClient = createKmsClient;
/** Enough for a pull of 100 secrets at concurrency 128: an unwrap and a fresh data key per secret in flight at once. */
exports.DEFAULT_MAX_SOCKETS = 256;
/** Shared by both clients: one attempt, keep-alive sockets, bounded connect and request times. */
function baseConfig(options) {
    const agent = { keepAlive: true, maxSockets: options.maxSockets ?? exports.DEFAULT_MAX_SOCKETS };
    return {
        ...(options.region === undefined ? {} : { region: options.region }),
        ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
        ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
        maxAttempts: 1,
        requestHandler: { httpAgent: agent, httpsAgent: agent, connectionTimeout: 5_000, requestTimeout: 30_000 },
    };
}
/** A `finalizeRequest` middleware reporting each request just before it goes on the wire. */
function observer(service, onCall) {
    return (next, context) => async (args) => {
        onCall({ service, operation: (context.commandName ?? 'Unknown').replace(/Command$/, '') });
        return next(args);
    };
}
const OBSERVER = { step: 'finalizeRequest', name: 'eggCallObserver', priority: 'low' };
/** A low-level DynamoDB client (no lib-dynamodb: the marshalling we need is a few lines). */
async function createDynamoDbClient(options = {}) {
    const { DynamoDBClient } = await Promise.all(/* import() */[__webpack_require__.e(861), __webpack_require__.e(305)]).then(__webpack_require__.t.bind(__webpack_require__, 4305, 19));
    const client = new DynamoDBClient(baseConfig(options));
    if (options.onCall !== undefined)
        client.middlewareStack.add(observer('dynamodb', options.onCall), OBSERVER);
    return client;
}
async function createKmsClient(options = {}) {
    const { KMSClient } = await Promise.all(/* import() */[__webpack_require__.e(861), __webpack_require__.e(632)]).then(__webpack_require__.t.bind(__webpack_require__, 2632, 19));
    const client = new KMSClient(baseConfig(options));
    if (options.onCall !== undefined)
        client.middlewareStack.add(observer('kms', options.onCall), OBSERVER);
    return client;
}
/**
 * Counts requests per service and operation; pass its `onCall` to the client options.
 * @example
 * const counter = new CallCounter();
 * const kms = await createKmsClient({ onCall: counter.onCall });
 * // … counter.count('kms')
 */
class CallCounter {
    #counts = new Map();
    onCall = (call) => {
        for (const key of [call.service, `${call.service}.${call.operation}`]) {
            this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
        }
    };
    /** Requests to `service`, or to one operation with "kms.Decrypt". */
    count(key) {
        return this.#counts.get(key) ?? 0;
    }
    reset() {
        this.#counts.clear();
    }
}
exports.CallCounter = CallCounter;


/***/ })

};
