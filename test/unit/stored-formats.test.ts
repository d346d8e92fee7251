/**
 * Known answers for every format that outlives the process that wrote it. A change to any of
 * these strands what is already stored (audit chains stop verifying, secrets stop
 * decrypting, issued tokens stop verifying), so each is pinned by a fixed value here and
 * only changes with a new version tag and a migration.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decrypt, itemAad } from '../../src/crypto/aead.js';
import { LocalSigner } from '../../src/tokens/signer.js';
import { decodeToken, encodeToken, TOKEN_PREFIX, tokenDigest } from '../../src/tokens/format.js';
import { CLOCK_TOLERANCE_SECONDS, TOKEN_TYP, TokenVerifier } from '../../src/tokens/verifier.js';
import { chainRecord, GENESIS, hashRecord, verifyChain } from '../../src/vault/audit.js';

describe('the audit chain (egg/audit/v1)', () => {
  const first = {
    namespace: 'acme/web',
    seq: 1,
    time: '2026-01-01T00:00:00.000Z',
    action: 'secret.set',
    targets: ['API_KEY'],
    actor: 'user:alice',
    outcome: 'ok',
    prev: '0000000000000000000000000000000000000000000000000000000000000000',
    hash: '039d1356971b5c725e1c51b1bd3728df8acf43cd6e9469496010e118d4820685',
  };
  const second = {
    namespace: 'acme/web',
    seq: 2,
    time: '2026-01-01T00:00:01.005Z',
    action: 'secret.get',
    targets: ['API_KEY', 'DB_URL'],
    actor: 'repo:acme/web:ref:refs/heads/main',
    outcome: 'denied',
    prev: '039d1356971b5c725e1c51b1bd3728df8acf43cd6e9469496010e118d4820685',
    hash: '446ac7cc0b24131b0e612c461baf123bd3b7d464b8522c004e94d6d41d47c083',
  };

  it('starts from a genesis of 64 zeros', () => {
    expect(GENESIS).toBe('0000000000000000000000000000000000000000000000000000000000000000');
  });

  it('hashes the documented canonical form, behind its version prefix', () => {
    const { hash, ...body } = first;
    const canonical =
      '["egg/audit/v1","acme/web",1,"2026-01-01T00:00:00.000Z","secret.set",["API_KEY"],"user:alice","ok","0000000000000000000000000000000000000000000000000000000000000000"]';
    expect(createHash('sha256').update(canonical).digest('hex')).toBe(hash);
    expect(hashRecord(body)).toBe(hash);
  });

  it('chains two known records and verifies them', () => {
    const entry = (r: typeof first) => ({
      action: r.action,
      targets: r.targets,
      actor: r.actor,
      outcome: r.outcome,
    });
    const one = chainRecord('acme/web', undefined, entry(first), new Date(first.time));
    const two = chainRecord('acme/web', one, entry(second), new Date(second.time));
    expect([one, two]).toEqual([first, second]);
    expect(verifyChain([first, second])).toEqual({ ok: true, records: 2, head: second.hash });
  });
});

describe('secret items (egg/secret/v1 and v2)', () => {
  it('binds namespace, name, rev and gen in this exact AAD', () => {
    expect(itemAad({ namespace: 'acme/web', name: 'API_KEY', rev: 3, gen: 7 }).toString('utf8')).toBe(
      '["egg/secret/v1","acme/web","API_KEY",3,7]',
    );
  });

  it("binds a provider key's upstream, injection template and price in egg/secret/v2, null when absent", () => {
    const key = { namespace: 'acme/web', name: 'OPENAI_KEY', rev: 3, gen: 7 };
    expect(
      itemAad({
        ...key,
        upstream: 'https://api.openai.com',
        inject: 'x-api-key: {}',
        price: 'input=1',
      }).toString(),
    ).toBe(
      '["egg/secret/v2","acme/web","OPENAI_KEY",3,7,"https://api.openai.com","x-api-key: {}","input=1"]',
    );
    expect(itemAad({ ...key, upstream: 'https://api.openai.com' }).toString()).toBe(
      '["egg/secret/v2","acme/web","OPENAI_KEY",3,7,"https://api.openai.com",null,null]',
    );
    expect(itemAad({ ...key, price: 'input=1' }).toString()).toBe(
      '["egg/secret/v2","acme/web","OPENAI_KEY",3,7,null,null,"input=1"]',
    );
    expect(itemAad({ ...key, inject: 'x: {}' }).toString()).toBe(
      '["egg/secret/v2","acme/web","OPENAI_KEY",3,7,null,"x: {}",null]',
    );
  });

  it('decrypts an item sealed before (AES-256-GCM, 96-bit IV, 128-bit tag)', () => {
    const sealed = {
      iv: Buffer.alloc(12, 9),
      ciphertext: Buffer.from('54eea9e0db83b54c9150f80c', 'hex'),
      tag: Buffer.from('26a8255db1c3c2d2b06e1c6462f6b0f5', 'hex'),
    };
    const aad = itemAad({ namespace: 'acme/web', name: 'API_KEY', rev: 3, gen: 7 });
    expect(decrypt(Buffer.alloc(32, 7), sealed, aad, 'secret API_KEY').toString()).toBe('sk-test-1234');
  });
});

describe('tokens (egg+jwt)', () => {
  // Signed by the Ed25519 seed 0x01 × 32 (Ed25519 signatures are deterministic, RFC 8032).
  const TOKEN =
    'egg_eyJhbGciOiJFZERTQSIsInR5cCI6ImVnZytqd3QiLCJraWQiOiJlZDI1NTE5Ol9SRU5NQjB2QjMzaFFVdVBtZlJCc1EifQ.eyJqdGkiOiJBQUFBQUFBQUFBQUFBQUFBQUFBQUFBIiwibm9uY2UiOiJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCIiwic3ViIjoiYWNtZS93ZWIiLCJrZXkiOiJPUEVOQUlfS0VZIiwib3JpZ2lucyI6WyJodHRwczovL2FwcC5leGFtcGxlLmNvbSJdLCJycHMiOjUsImJ1cnN0Ijo1LCJzcGVuZCI6MTAwLCJjb3N0IjoxLCJpYXQiOjE3NjcyNjg4MDAsIm5iZiI6MTc2NzI2ODgwMCwiZXhwIjoxNzY3MjY5NDAwfQ.LyrSpPuI3w1P58wdgp3RzrDZXeHqBPpkeaWigZYQT3DbMG09c8ov9j6w514Ab-dihwlD_ghFxvi8NQdTzpqYDg.fnJk4ZjG';

  it('keeps its prefix, typ, key id form and skew', async () => {
    expect(TOKEN_PREFIX).toBe('egg_');
    expect(TOKEN_TYP).toBe('egg+jwt');
    expect(CLOCK_TOLERANCE_SECONDS).toBe(30);
    expect(await new LocalSigner(Buffer.alloc(32, 1)).kid()).toBe('ed25519:_RENMB0vB33hQUuPmfRBsQ');
    const [header] = decodeToken(TOKEN)!.split('.') as [string];
    expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toEqual({
      alg: 'EdDSA',
      typ: 'egg+jwt',
      kid: 'ed25519:_RENMB0vB33hQUuPmfRBsQ',
    });
  });

  it('refuses a token longer than 4096 characters unread, and reads one of exactly 4096', () => {
    const jws = (length: number) => `a.b.${'c'.repeat(length - 4)}`;
    const at = encodeToken(jws(4096 - 'egg_'.length - 9));
    expect(at).toHaveLength(4096);
    expect(decodeToken(at)).toBe(jws(4083));
    const over = encodeToken(jws(4084));
    expect(over).toHaveLength(4097);
    expect(decodeToken(over)).toBeUndefined();
  });

  it('refuses a well-checksummed string that does not start with the prefix', () => {
    const body = 'xegg_a.b.c';
    const checksum = createHash('sha256').update(body).digest().subarray(0, 6).toString('base64url');
    expect(decodeToken(`${body}.${checksum}`)).toBeUndefined();
    expect(decodeToken(encodeToken('a.b.c'))).toBe('a.b.c');
  });

  it('verifies a token issued before, and its record digest is unchanged', async () => {
    const signer = new LocalSigner(Buffer.alloc(32, 1));
    const verifier = new TokenVerifier({
      publicKey: await signer.publicKey(),
      clock: () => 1767268900 * 1000,
    });
    const verdict = await verifier.verify(TOKEN);
    expect(verdict).toMatchObject({ ok: true, claims: { jti: 'AAAAAAAAAAAAAAAAAAAAAA', sub: 'acme/web' } });
    expect(verdict.ok && verdict.digest).toBe(tokenDigest(TOKEN));
    expect(tokenDigest(TOKEN)).toBe(createHash('sha256').update(TOKEN).digest('base64url'));
  });
});
