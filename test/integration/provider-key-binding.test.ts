/**
 * A provider key's upstream, injection template and price are bound into its AAD
 * (crypto/aead.ts, `egg/secret/v2`): whoever can write the table but not unwrap its data keys
 * (a DynamoDB administrator outside the key policy, a restored backup) rewrites them in
 * vain. The rewrite is made here as such a writer would, through the store alone (no keyring),
 * on the local vault (SQLite) and on DynamoDB Local with KMS on moto, with a running proxy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemAad } from '../../src/crypto/aead.js';
import { encrypt } from '../../src/crypto/aead.js';
import type { SecretItem } from '../../src/stores/store.js';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js';
import {
  createWorld,
  KEY_NAME,
  NAMESPACE,
  type ProxyWorld,
  startTestProxy,
  type TestProxy,
} from '../support/proxy-harness.js';
import { send } from '../support/proxy-http.js';

const PROVIDER_KEY = 'sk-bound-canary-41f0c2d9';

function bindingSuite(backend: 'sqlite' | 'dynamodb') {
  describe(`a provider key bound to its upstream (${backend})`, () => {
    let upstream: FakeUpstream;
    let attacker: FakeUpstream;
    let world: ProxyWorld;

    beforeAll(async () => {
      upstream = await startFakeUpstream();
      attacker = await startFakeUpstream({ host: '127.0.0.2' });
      world = await createWorld(backend);
    });
    afterAll(async () => {
      await world?.close();
      await upstream?.close();
      await attacker?.close();
    });

    /** The item as the table holds it now. */
    const stored = async (name: string): Promise<SecretItem> => {
      const [item] = await world.secrets.getSecrets(NAMESPACE, [name]);
      if (item === undefined) throw new Error(`${name} is not stored`);
      return item;
    };
    /** Write `item` changed by `change`, as a table writer without the keyring would. */
    const rewrite = async (
      name: string,
      change: Partial<SecretItem>,
      strip: readonly ('upstream' | 'inject' | 'price')[] = [],
    ) => {
      const item: SecretItem = { ...(await stored(name)), ...change };
      for (const field of strip) delete item[field];
      const written = await world.secrets.putSecret(item, { kind: 'rev-gen', rev: item.rev, gen: item.gen });
      expect(written).toBe(true);
    };

    it('never sends a key whose upstream was rewritten in the table to the new upstream', async () => {
      await world.vault.set(KEY_NAME, Buffer.from(PROVIDER_KEY), { upstream: upstream.url });
      await rewrite(KEY_NAME, { upstream: attacker.url });
      const token = await world.mint();
      const proxy: TestProxy = await startTestProxy(world);
      try {
        const response = await send(proxy.url, { token });
        expect(response.status).toBe(502);
        expect(response.body).not.toContain(PROVIDER_KEY);
        expect(attacker.requests).toHaveLength(0);
        expect(upstream.requests).toHaveLength(0);
        expect(proxy.logs.join('\n')).not.toContain(PROVIDER_KEY);
      } finally {
        await proxy.close();
      }
      await expect(world.vault.get(KEY_NAME)).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
    });

    it('refuses a key whose injection template or price was rewritten, or whose metadata was stripped', async () => {
      for (const [label, change, strip] of [
        ['inject', { inject: 'x-exfil: {}' }, []],
        ['price', { price: 'input=0,output=0' }, []],
        ['stripped', {}, ['upstream', 'inject', 'price']],
      ] as const) {
        const name = `KEY_${label.toUpperCase()}`;
        await world.vault.set(name, Buffer.from(PROVIDER_KEY), {
          upstream: upstream.url,
          price: 'input=2.5,output=10',
        });
        await rewrite(name, change, strip);
        await expect(world.vault.get(name), label).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
      }
    });

    it('still reads a key set, read (its data key replaced) and set again, with its metadata kept', async () => {
      await world.vault.set('KEY_KEPT', Buffer.from(PROVIDER_KEY), {
        upstream: upstream.url,
        price: 'input=1,output=2',
      });
      for (let i = 0; i < 2; i++) {
        const read = await world.vault.get('KEY_KEPT');
        expect([Buffer.from(read.value).toString(), read.upstream]).toEqual([PROVIDER_KEY, upstream.url]);
      }
      await world.vault.set('KEY_KEPT', Buffer.from(`${PROVIDER_KEY}-2`), { upstream: upstream.url });
      expect((await world.vault.get('KEY_KEPT')).price).toBe((await stored('KEY_KEPT')).price);
    });

    it('refuses a provider key stored before the binding, saying how to store it again', async () => {
      // An item as the vault wrote it before the binding: encrypted under egg/secret/v1.
      await world.vault.set('KEY_LEGACY', Buffer.from('placeholder'));
      const item = await stored('KEY_LEGACY');
      const read = await world.vault.get('KEY_LEGACY');
      expect(Buffer.from(read.value).toString()).toBe('placeholder');
      const now = await stored('KEY_LEGACY');
      const key = await world.keyring.unwrap(now.wrappedKey, now.keyId, {
        namespace: NAMESPACE,
        secret: 'KEY_LEGACY',
      });
      const legacy = encrypt(key, Buffer.from(PROVIDER_KEY), itemAad(now));
      await rewrite('KEY_LEGACY', { ...legacy, upstream: attacker.url });
      expect(item.rev).toBe(now.rev);
      const refused = world.vault.get('KEY_LEGACY');
      await expect(refused).rejects.toMatchObject({
        code: 'ERR_DECRYPTION_FAILED',
        message: expect.stringContaining('was stored before its upstream was bound to it'),
        hint: 'store it again: egg secrets set KEY_LEGACY --upstream URL (or egg secrets seal)',
      });
    });
  });
}

bindingSuite('sqlite');
bindingSuite('dynamodb');
