/**
 * Loopback fakes of KMS asymmetric keys that moto does not implement. Signing with an Ed25519
 * key (`ECC_NIST_EDWARDS25519`): the awsJson1_1 `Sign` and `GetPublicKey` operations as
 * the AWS SDK sends them (X-Amz-Target `TrentService.*`, base64 blobs). It insists on what
 * real KMS insists on for this key spec: `SigningAlgorithm: ED25519_SHA_512` with
 * `MessageType: RAW` (or ED25519_PH_SHA_512 with DIGEST, which we never use), and signs
 * with pure Ed25519 (RFC 8032), as KMS does.
 *
 * With `forward` (moto's endpoint), every other operation is passed through unchanged, so
 * one `AWS_ENDPOINT_URL_KMS` serves a process that both signs and uses data keys.
 */
import { constants, generateKeyPairSync, privateDecrypt, randomUUID, sign } from 'node:crypto';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeKms {
  endpoint: string;
  keyArn: string;
  /** Operations received, in order (forwarded ones too). */
  calls: string[];
  /** The access key id each Sign and GetPublicKey request was signed with (SigV4 `Credential=`), in order. */
  signers: string[];
  close(): Promise<void>;
}

/** One asymmetric key's operations: answer `operation` for `body`, with `reply` and `fail`. */
interface FakeKey {
  operations: ReadonlySet<string>;
  answer(
    operation: string,
    body: Record<string, string>,
    keyArn: string,
    reply: (status: number, payload: unknown) => void,
    fail: (type: string, message: string) => void,
  ): void;
}

export async function startFakeKmsSigner(options: { forward?: string } = {}): Promise<FakeKms> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return startFakeKms(options, {
    operations: new Set(['Sign', 'GetPublicKey']),
    answer: (operation, body, keyArn, reply, fail) => {
      if (operation === 'GetPublicKey') {
        return reply(200, {
          KeyId: keyArn,
          PublicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
          KeySpec: 'ECC_NIST_EDWARDS25519',
          KeyUsage: 'SIGN_VERIFY',
          SigningAlgorithms: ['ED25519_SHA_512', 'ED25519_PH_SHA_512'],
        });
      }
      if (body.SigningAlgorithm !== 'ED25519_SHA_512' || (body.MessageType ?? 'RAW') !== 'RAW') {
        return fail('InvalidKeyUsageException', 'this key signs with ED25519_SHA_512 over RAW messages');
      }
      const message = Buffer.from(body.Message ?? '', 'base64');
      if (message.length === 0 || message.length > 4096)
        return fail('ValidationException', 'Message must be 1 to 4096 bytes');
      return reply(200, {
        KeyId: keyArn,
        Signature: sign(null, message, privateKey).toString('base64'),
        SigningAlgorithm: 'ED25519_SHA_512',
      });
    },
  });
}

/**
 * A KMS asymmetric encryption key, `RSA_3072` for `ENCRYPT_DECRYPT`: `GetPublicKey` and
 * `Decrypt`, which moto 5.2 answers for RSA keys only with `InvalidCiphertextException` (its
 * Decrypt reads every ciphertext as its own symmetric format). As real KMS does, Decrypt
 * insists on the `EncryptionAlgorithm` (an RSA key has no default) and refuses a ciphertext
 * that does not decrypt under it (`InvalidCiphertextException`).
 */
export async function startFakeKmsSealer(options: { forward?: string } = {}): Promise<FakeKms> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
  return startFakeKms(options, {
    operations: new Set(['Decrypt', 'GetPublicKey']),
    answer: (operation, body, keyArn, reply, fail) => {
      if (operation === 'GetPublicKey') {
        return reply(200, {
          KeyId: keyArn,
          PublicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
          KeySpec: 'RSA_3072',
          CustomerMasterKeySpec: 'RSA_3072',
          KeyUsage: 'ENCRYPT_DECRYPT',
          EncryptionAlgorithms: ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'],
        });
      }
      const hash = { RSAES_OAEP_SHA_1: 'sha1', RSAES_OAEP_SHA_256: 'sha256' }[body.EncryptionAlgorithm ?? ''];
      if (hash === undefined)
        return fail(
          'InvalidKeyUsageException',
          'an RSA key decrypts with RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256',
        );
      try {
        const plaintext = privateDecrypt(
          { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash },
          Buffer.from(body.CiphertextBlob ?? '', 'base64'),
        );
        return reply(200, {
          KeyId: keyArn,
          Plaintext: plaintext.toString('base64'),
          EncryptionAlgorithm: body.EncryptionAlgorithm,
        });
      } catch {
        return fail('InvalidCiphertextException', 'the ciphertext does not decrypt under this key');
      }
    },
  });
}

async function startFakeKms(options: { forward?: string }, key: FakeKey): Promise<FakeKms> {
  const keyArn = `arn:aws:kms:us-east-1:000000000000:key/${randomUUID()}`;
  const calls: string[] = [];
  const signers: string[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.replace(/^TrentService\./, '');
    calls.push(operation);
    if (options.forward !== undefined && !key.operations.has(operation)) {
      return forward(options.forward, req, Buffer.concat(chunks), res);
    }
    const credential = /Credential=([^/,\s]+)\//.exec(String(req.headers.authorization ?? ''));
    signers.push(credential?.[1] ?? '(unsigned)');
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, string>;
    const reply = (status: number, payload: unknown) => {
      res.writeHead(status, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-requestid': randomUUID(),
      });
      res.end(JSON.stringify(payload));
    };
    const fail = (type: string, message: string) => reply(400, { __type: type, message });
    if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 ')) {
      return fail('MissingAuthenticationTokenException', 'unsigned request');
    }
    if (body.KeyId !== keyArn && body.KeyId !== keyArn.split('/')[1]) {
      return fail('NotFoundException', `Key '${body.KeyId}' does not exist`);
    }
    if (!key.operations.has(operation))
      return fail('UnknownOperationException', `fake KMS does not implement ${operation}`);
    return key.answer(operation, body, keyArn, reply, fail);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    keyArn,
    calls,
    signers,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Pass one request through to `target` as it came (moto ignores the SigV4 host), and its answer back. */
function forward(target: string, req: IncomingMessage, body: Buffer, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', target);
  const upstream = request(
    url,
    { method: req.method, headers: { ...req.headers, host: url.host } },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', () => {
    res.writeHead(502);
    res.end();
  });
  upstream.end(body);
}
