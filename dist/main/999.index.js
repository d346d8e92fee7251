export const id = 999;
export const ids = [999];
export const modules = {

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
