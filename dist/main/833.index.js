export const id = 833;
export const ids = [833,999];
export const modules = {

/***/ 5833:
/***/ ((__unused_webpack_module, exports, __webpack_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.KmsHierarchicalKeyring = exports.KEK_PURPOSE = void 0;
/**
 * The `kms-hierarchical` keyring (the AWS Encryption SDK's hierarchical keyring idea): each
 * namespace has a key-encryption key that is itself a KMS data key, with the encryption
 * context `{namespace, purpose: 'egg/namespace-kek'}`, stored wrapped in the table
 * (`K#namespace`). Data keys come from the CSPRNG and are wrapped with AES-256-KW under it.
 *
 * The unwrapped KEK is cached per namespace for the life of the keyring (one per process),
 * as a promise, so concurrent callers share one KMS call: at most one KMS call per
 * namespace per process, instead of two per secret. `close()` wipes the cache.
 */
const node_crypto_1 = __webpack_require__(7598);
const aead_js_1 = __webpack_require__(8030);
const key_wrap_js_1 = __webpack_require__(3787);
const wipe_js_1 = __webpack_require__(546);
const errors_js_1 = __webpack_require__(3916);
const kms_js_1 = __webpack_require__(999);
exports.KEK_PURPOSE = 'egg/namespace-kek';
const KEY_ID_PREFIX = 'hkek:';
class KmsHierarchicalKeyring {
    kind = 'kms-hierarchical';
    #kms;
    #store;
    #clock;
    #keks = new Map();
    /** Every KEK we hold in the clear, to wipe on close. */
    #held = [];
    #closed = false;
    constructor(options) {
        this.#kms = new kms_js_1.KmsCalls(options);
        this.#store = options.store;
        this.#clock = options.clock ?? (() => new Date());
    }
    /** Unwrap the namespace's KEK ahead of the first key, if it has one; never creates one (a read stays a read). */
    async warm(namespace) {
        await this.#kek(namespace, false);
    }
    async generate(context) {
        const { kek, kekId } = (await this.#kek(context.namespace, true));
        const plaintext = (0, node_crypto_1.randomBytes)(aead_js_1.KEY_BYTES);
        return { plaintext, wrapped: (0, key_wrap_js_1.wrapKey)(kek, plaintext), keyId: `${KEY_ID_PREFIX}${kekId}` };
    }
    async unwrap(wrapped, keyId, context) {
        const what = `secret ${context.secret}`;
        if (!keyId.startsWith(KEY_ID_PREFIX))
            throw new errors_js_1.DecryptionFailed(what);
        const namespaceKek = await this.#kek(context.namespace, false);
        if (namespaceKek === undefined || keyId !== `${KEY_ID_PREFIX}${namespaceKek.kekId}`) {
            throw new errors_js_1.DecryptionFailed(what);
        }
        const key = (0, key_wrap_js_1.unwrapKey)(namespaceKek.kek, wrapped, what);
        if (key.length !== aead_js_1.KEY_BYTES) {
            (0, wipe_js_1.wipe)(key);
            throw new errors_js_1.DecryptionFailed(what);
        }
        return key;
    }
    close() {
        this.#closed = true;
        (0, wipe_js_1.wipe)(...this.#held);
        this.#held.length = 0;
        this.#keks.clear();
        this.#kms.close();
    }
    /**
     * The namespace's KEK: cached, or loaded once and shared by concurrent callers. Undefined
     * when it has none and `create` is off. A failed or empty load is forgotten, so the next
     * call tries again.
     */
    async #kek(namespace, create) {
        for (;;) {
            if (this.#closed)
                throw new TypeError('the keyring is closed');
            const pending = this.#keks.get(namespace) ?? this.#track(namespace, this.#load(namespace, create));
            const kek = await pending;
            if (kek !== undefined || !create)
                return kek;
            // Someone only warmed a namespace without a KEK; go round to create it (once, shared).
            if (this.#keks.get(namespace) === pending)
                this.#keks.delete(namespace);
        }
    }
    #track(namespace, loading) {
        this.#keks.set(namespace, loading);
        const forget = () => {
            if (this.#keks.get(namespace) === loading)
                this.#keks.delete(namespace);
        };
        loading.then((kek) => kek === undefined && forget(), forget);
        return loading;
    }
    /** Read the stored KEK, or create it when `create`; on a lost creation race, use the winner's. */
    async #load(namespace, create) {
        const existing = await this.#store.getNamespaceKey(namespace);
        if (existing !== undefined)
            return this.#open(existing);
        if (!create)
            return undefined;
        const fresh = await this.#kms.generateDataKey(kekContext(namespace), namespace);
        const kekId = fingerprint(namespace, fresh.plaintext);
        let created;
        try {
            created = await this.#store.putNamespaceKey({
                namespace,
                kekId,
                wrapped: fresh.wrapped,
                kmsKeyId: fresh.keyId,
                createdAt: this.#clock().toISOString(),
            });
        }
        catch (error) {
            (0, wipe_js_1.wipe)(fresh.plaintext);
            throw error;
        }
        if (created)
            return this.#keep(fresh.plaintext, kekId);
        (0, wipe_js_1.wipe)(fresh.plaintext);
        const winner = await this.#store.getNamespaceKey(namespace);
        if (winner === undefined) {
            throw new errors_js_1.EggError('ERR_CONFLICT', `the key of namespace ${namespace} vanished while it was being created`, {
                hint: 'try again',
            });
        }
        return this.#open(winner);
    }
    async #open(item) {
        const what = `the key of namespace ${item.namespace}`;
        const kek = await this.#kms.decrypt(item.wrapped, kekContext(item.namespace), item.namespace, what);
        // The id is a fingerprint of the key: an item whose id and key don't belong together was tampered with.
        if (fingerprint(item.namespace, kek) !== item.kekId) {
            (0, wipe_js_1.wipe)(kek);
            throw new errors_js_1.DecryptionFailed(what);
        }
        return this.#keep(kek, item.kekId);
    }
    #keep(kek, kekId) {
        if (this.#closed) {
            (0, wipe_js_1.wipe)(kek);
            throw new TypeError('the keyring is closed');
        }
        this.#held.push(kek);
        return { kek, kekId };
    }
}
exports.KmsHierarchicalKeyring = KmsHierarchicalKeyring;
function kekContext(namespace) {
    return { namespace, purpose: exports.KEK_PURPOSE };
}
/** A public id for a KEK: a hash of the key under a fixed label, never the key. */
function fingerprint(namespace, kek) {
    return (0, node_crypto_1.createHash)('sha256')
        .update('egg/hkek-id')
        .update(namespace)
        .update('\0')
        .update(kek)
        .digest('hex')
        .slice(0, 24);
}


/***/ }),

/***/ 999:
/***/ ((__unused_webpack_module, exports, __webpack_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.KmsKeyring = exports.KmsCalls = void 0;
/**
 * The `kms` keyring: every data key comes from KMS `GenerateDataKey` and is unwrapped by
 * KMS `Decrypt`, both with the encryption context `{namespace, secret}` (DESIGN, Crypto),
 * so a wrapped key moved to another secret or namespace does not decrypt, and IAM can
 * confine a role to its namespace with `kms:EncryptionContext:namespace`.
 *
 * `Decrypt` names the configured key (`KeyId`) rather than trusting the item: someone who
 * can write the table cannot make us accept a data key wrapped under a key they control
 * (AWS KMS best practices, "Decrypt: specify the KMS key").
 */
const client_kms_1 = __webpack_require__(2632);
const errors_js_1 = __webpack_require__(9378);
const aead_js_1 = __webpack_require__(8030);
const wipe_js_1 = __webpack_require__(546);
const errors_js_2 = __webpack_require__(3916);
const log_js_1 = __webpack_require__(5625);
const retry_js_1 = __webpack_require__(9809);
/** KMS refusing a ciphertext: all of these are "the item is corrupt, was moved, or the key is wrong". */
const UNDECRYPTABLE = new Set([
    'InvalidCiphertextException',
    'IncorrectKeyException',
    'InvalidKeyUsageException',
    'NotFoundException',
    'KMSInvalidStateException',
    'DisabledException',
]);
/** A plaintext key from KMS as a Buffer over the SDK's own bytes, so wiping it wipes them. */
function keyBytes(bytes) {
    return bytes === undefined ? undefined : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
/**
 * KMS calls shared by the `kms` and `kms-hierarchical` keyrings: retries on transient
 * failures, and one translation of what is left.
 */
class KmsCalls {
    keyId;
    #client;
    #logger;
    #retry;
    #ownsClient;
    constructor(options) {
        if (options.keyId === '')
            throw new TypeError('a KMS key id is required');
        this.keyId = options.keyId;
        this.#client = options.client;
        this.#logger = options.logger ?? log_js_1.nullLogger;
        this.#retry = options.retry ?? {};
        this.#ownsClient = options.ownsClient ?? false;
    }
    /** A fresh AES-256 data key bound to `context`; `keyId` is the key ARN KMS reports. */
    async generateDataKey(context, namespace) {
        const command = new client_kms_1.GenerateDataKeyCommand({
            KeyId: this.keyId,
            KeySpec: 'AES_256',
            EncryptionContext: context,
        });
        const output = await this.#send('GenerateDataKey', namespace, () => this.#client.send(command), (error) => new errors_js_2.EggError('ERR_KMS', `KMS cannot generate data keys with key ${this.keyId}`, {
            cause: error,
            hint: 'check EGG_KMS_KEY_ID: the key must exist in this region, be enabled, and be a symmetric encryption key',
        }));
        const plaintext = keyBytes(output.Plaintext);
        if (plaintext?.length !== aead_js_1.KEY_BYTES ||
            output.CiphertextBlob === undefined ||
            output.KeyId === undefined) {
            (0, wipe_js_1.wipe)(plaintext);
            throw new errors_js_2.EggError('ERR_KMS', 'KMS returned a malformed data key');
        }
        return { plaintext, wrapped: Buffer.from(output.CiphertextBlob), keyId: output.KeyId };
    }
    /** The plaintext of a data key wrapped under the configured key with `context`, or `DecryptionFailed`. */
    async decrypt(wrapped, context, namespace, what) {
        const command = new client_kms_1.DecryptCommand({
            CiphertextBlob: wrapped,
            KeyId: this.keyId,
            EncryptionContext: context,
        });
        const output = await this.#send('Decrypt', namespace, () => this.#client.send(command), (error) => new errors_js_2.DecryptionFailed(what, error));
        const plaintext = keyBytes(output.Plaintext);
        if (plaintext?.length !== aead_js_1.KEY_BYTES) {
            (0, wipe_js_1.wipe)(plaintext);
            throw new errors_js_2.DecryptionFailed(what);
        }
        return plaintext;
    }
    close() {
        if (this.#ownsClient)
            this.#client.destroy();
    }
    async #send(operation, namespace, send, refused) {
        try {
            return await (0, retry_js_1.retry)(send, { label: `kms.${operation}`, logger: this.#logger, ...this.#retry });
        }
        catch (error) {
            if (error instanceof errors_js_2.EggError)
                throw error;
            const name = (0, errors_js_1.awsErrorName)(error);
            if (UNDECRYPTABLE.has(name))
                throw refused(error);
            const identity = (0, errors_js_1.identityProblem)(error, `kms:${operation}`, namespace);
            if (identity !== undefined)
                throw identity;
            throw new errors_js_2.EggError('ERR_KMS', (0, retry_js_1.isTransient)(error) ? `could not reach KMS (${name})` : `kms:${operation} failed (${name})`, { cause: error, hint: 'check the network, the region and AWS_ENDPOINT_URL_KMS, then try again' });
        }
    }
}
exports.KmsCalls = KmsCalls;
class KmsKeyring {
    kind = 'kms';
    #kms;
    constructor(options) {
        this.#kms = new KmsCalls(options);
    }
    async generate(context) {
        return this.#kms.generateDataKey(encryptionContext(context), context.namespace);
    }
    async unwrap(wrapped, keyId, context) {
        const what = `secret ${context.secret}`;
        // An item wrapped by another keyring (local, hierarchical) is not ours to send to KMS.
        if (!keyId.startsWith('arn:'))
            throw new errors_js_2.DecryptionFailed(what);
        return this.#kms.decrypt(wrapped, encryptionContext(context), context.namespace, what);
    }
    close() {
        this.#kms.close();
    }
}
exports.KmsKeyring = KmsKeyring;
/** The encryption context of a secret's data key: exactly these two pairs (DESIGN, Crypto). */
function encryptionContext(context) {
    return { namespace: context.namespace, secret: context.secret };
}


/***/ })

};
