/**
 * A sealed provider key through the proxy (issue 14, item 2): sealed with WebCrypto as the
 * console page seals it, stored without being unsealed, unsealed by the proxy's first read
 * (the local RSA key, or KMS Decrypt with RSAES_OAEP_SHA_256), injected exactly, and moved
 * under the keyring by that read's rotation. A tampered blob is refused with one sentence,
 * and the upstream never sees a request. Local vault (SQLite), and DynamoDB Local with
 * moto's KMS for data keys and a loopback fake for the RSA key moto cannot decrypt with.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKmsClient } from '../../src/aws/clients.js';
import { parseSealed, seal, type SealedKey } from '../../src/crypto/seal.js';
import { KmsSealingKey } from '../../src/keyrings/kms-sealing.js';
import { useTestAws } from '../support/aws.js';
import { findLeaks } from '../support/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js';
import { type FakeKms, startFakeKmsSealer } from '../support/proxy-fake-kms.js';
import {
  createWorld,
  KEY_NAME,
  NAMESPACE,
  type ProxyWorld,
  startTestProxy,
  type TestProxy,
} from '../support/proxy-harness.js';
import { send } from '../support/proxy-http.js';

type Tamper = [string, (blob: SealedKey) => SealedKey, string?];

const flip = (text: string, at: number) => {
  const bytes = Buffer.from(text, 'base64url');
  bytes[at]! ^= 0x80;
  return bytes.toString('base64url');
};

const TAMPERS: Tamper[] = [
  ['a key sealed for another name', (blob) => blob, 'OTHER_KEY'],
  ['a flipped byte in the ciphertext', (blob) => ({ ...blob, ciphertext: flip(blob.ciphertext, 5) })],
  ['a flipped byte in the wrapped key', (blob) => ({ ...blob, wrappedKey: flip(blob.wrappedKey, 100) })],
];

describe.each(['sqlite', 'dynamodb'] as const)('a sealed provider key through the proxy (%s)', (backend) => {
  const KEY = `sk-sealed-${backend}-${randomBytes(6).toString('hex')}-DO-NOT-LEAK`;
  let upstream: FakeUpstream;
  let sealer: FakeKms | undefined;
  let world: ProxyWorld;
  let proxy: TestProxy;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    if (backend === 'dynamodb') {
      const aws = useTestAws();
      sealer = await startFakeKmsSealer({ forward: aws.moto });
      const sealing = new KmsSealingKey({
        client: await createKmsClient({ endpoint: sealer.endpoint }),
        keyId: sealer.keyArn,
        ownsClient: true,
      });
      world = await createWorld('dynamodb', { sealing });
    } else {
      world = await createWorld('sqlite');
    }
    proxy = await startTestProxy(world, { keyTtlMs: 0 });
  });
  afterAll(async () => {
    await proxy?.close();
    await world?.close();
    await Promise.all([upstream?.close(), sealer?.close()]);
  });

  const sealFor = async (name: string) =>
    seal({ publicKey: await world.sealing.publicKey(), namespace: NAMESPACE, name, value: Buffer.from(KEY) });

  it('injects exactly the sealed key upstream, and the item is no longer sealed after', async () => {
    await world.vault.putSealed(KEY_NAME, parseSealed(await sealFor(KEY_NAME)), { upstream: upstream.url });
    expect((await world.secrets.getSecrets(NAMESPACE, [KEY_NAME]))[0]?.sealed).toBe(true);
    const token = await world.mint();
    const before = upstream.requests.length;
    const res = await send(proxy.url, { token, path: '/v1/echo', body: '{}' });
    expect(res.status).toBe(200);
    expect(upstream.requests.slice(before).map((r) => r.headers.authorization)).toEqual([`Bearer ${KEY}`]);
    const [item] = await world.secrets.getSecrets(NAMESPACE, [KEY_NAME]);
    expect(item?.sealed).toBeUndefined();
    expect(item?.gen).toBe(2);
    // Now under the keyring: the sealing key is not asked again.
    const decrypts = sealer?.calls.filter((c) => c === 'Decrypt').length;
    expect((await send(proxy.url, { token, path: '/v1/echo', body: '{}' })).status).toBe(200);
    expect(upstream.requests.at(-1)?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sealer?.calls.filter((c) => c === 'Decrypt').length).toBe(decrypts);
    if (sealer !== undefined) expect(decrypts).toBe(1);
    expect(findLeaks(JSON.stringify(await world.vault.auditTrail()), KEY)).toEqual([]);
    expect(findLeaks(JSON.stringify(item), KEY)).toEqual([]);
  });

  it.each(TAMPERS)(
    'refuses %s: 502 in one sentence, nothing injected, the item unchanged',
    async (_what, tamper, sealedAs) => {
      const name = `TAMPERED_${randomBytes(3).toString('hex').toUpperCase()}`;
      const blob = tamper(await sealFor(sealedAs ?? name));
      await world.vault.putSealed(name, parseSealed(blob), { upstream: upstream.url });
      const [stored] = await world.secrets.getSecrets(NAMESPACE, [name]);
      const token = await world.mint({ key: name });
      const before = upstream.requests.length;
      const res = await send(proxy.url, { token, path: '/v1/echo', body: '{}' });
      expect({ status: res.status, body: JSON.parse(res.body) }).toEqual({
        status: 502,
        body: {
          error: {
            type: 'egg_proxy',
            code: 'key_unavailable',
            message: 'the provider key for this token is not available',
          },
        },
      });
      expect(upstream.requests.length).toBe(before);
      expect(await world.secrets.getSecrets(NAMESPACE, [name])).toEqual([stored]);
      expect((await world.vault.auditTrail()).at(-1)).toMatchObject({
        action: 'read',
        targets: [name],
        outcome: 'decryption-failed',
      });
    },
  );
});
