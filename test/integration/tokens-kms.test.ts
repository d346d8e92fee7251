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
import { claimsAt, mintHostile } from '../support/hostile-minter.js';
import {
  APP_ORIGIN,
  createWorld,
  KEY_NAME,
  NAMESPACE,
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

  it('refuses a KMS-signed token dated a year ahead, and voids one recorded before the kill switch', async () => {
    const store = await world.openTokenStore();
    try {
      const now = Math.floor(Date.now() / 1000);
      // Signed by kms:Sign and recorded, as a role allowed both could: only the time rules refuse it.
      const ahead = await mintHostile(
        signer,
        store,
        claimsAt(now, { iat: now + 365 * 86400 }, NAMESPACE, KEY_NAME),
      );
      // Dated 25 s ahead (within the skew) and valid: only the kill switch's mark voids it.
      const skewed = await mintHostile(
        signer,
        store,
        claimsAt(now + 25, { origins: [APP_ORIGIN], native: true }, NAMESPACE, KEY_NAME),
      );
      const before = upstream.requests.length;
      expect((await send(proxy.url, { token: ahead, headers: { origin: APP_ORIGIN } })).status).toBe(401);
      expect((await send(proxy.url, { token: skewed })).status).toBe(200);
      await world.tokens.killSwitch();
      expect((await send(proxy.url, { token: skewed })).status).toBe(401);
      expect(upstream.requests.length).toBe(before + 1);
    } finally {
      await store.close();
    }
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
