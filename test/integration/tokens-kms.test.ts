/**
 * Tokens signed by a KMS Ed25519 key (through a loopback fake of KMS Sign/GetPublicKey,
 * since moto has no Ed25519 keys), with the vault and token store on DynamoDB Local: the
 * proxy verifies them with the public key fetched once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKmsClient } from '../../src/aws/clients.js';
import { KmsSigner } from '../../src/tokens/kms-signer.js';
import { TokenVerifier } from '../../src/tokens/verifier.js';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js';
import { type FakeKms, startFakeKmsSigner } from '../support/proxy-fake-kms.js';
import {
  createWorld,
  KEY_NAME,
  type ProxyWorld,
  startTestProxy,
  type TestProxy,
} from '../support/proxy-harness.js';
import { send } from '../support/proxy-http.js';
import { useTestAws } from '../support/aws.js';

describe('tokens signed with a KMS Ed25519 key', () => {
  let kms: FakeKms;
  let upstream: FakeUpstream;
  let world: ProxyWorld;
  let proxy: TestProxy;
  let signer: KmsSigner;

  beforeAll(async () => {
    useTestAws();
    [kms, upstream] = await Promise.all([startFakeKmsSigner(), startFakeUpstream()]);
    signer = new KmsSigner({
      client: await createKmsClient({ endpoint: kms.endpoint }),
      keyId: kms.keyArn,
      ownsClient: true,
    });
    world = await createWorld('dynamodb', { signer });
    await world.vault.set(KEY_NAME, Buffer.from('sk-kms-test'), { upstream: upstream.url });
    proxy = await startTestProxy(world);
  });
  afterAll(async () => {
    await proxy?.close();
    await world?.close();
    signer?.close();
    await Promise.all([kms?.close(), upstream?.close()]);
  });

  it('mints with KMS Sign (ED25519_SHA_512, RAW) and the proxy accepts the token', async () => {
    const first = await world.mint();
    const second = await world.mint();
    expect(kms.calls).toEqual(['GetPublicKey', 'Sign', 'Sign']);
    const res = await send(proxy.url, { token: first });
    expect(res.status).toBe(200);
    expect(upstream.requests.at(-1)?.headers.authorization).toBe('Bearer sk-kms-test');
    expect((await send(proxy.url, { token: second })).status).toBe(200);
  });

  it('names the fix when the signing key is not an Ed25519 key', async () => {
    const wrong = new KmsSigner({
      client: await createKmsClient({ endpoint: kms.endpoint }),
      keyId: 'alias/nope',
      ownsClient: true,
    });
    try {
      await expect(wrong.kid()).rejects.toMatchObject({ code: 'ERR_KMS' });
    } finally {
      wrong.close();
    }
  });

  it('verifies with the public key only: a token from the local key is refused', async () => {
    const verifier = new TokenVerifier({ publicKey: await signer.publicKey() });
    const { LocalSigner } = await import('../../src/tokens/signer.js');
    const local = await createWorld('sqlite', { signer: new LocalSigner(Buffer.alloc(32, 1)) });
    try {
      await local.vault.set(KEY_NAME, Buffer.from('x'), { upstream: upstream.url });
      expect(await verifier.verify(await local.mint())).toEqual({ ok: false, reason: 'signature' });
    } finally {
      await local.close();
    }
  });
});
