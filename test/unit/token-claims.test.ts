/**
 * Token claims (src/tokens/claims.ts) at both ends: what minting refuses, and what the
 * verifier refuses in a token that is correctly signed. The minting role may be the
 * attacker (test/support/hostile-minter.ts), so every rule must hold at verification too:
 * the proxy's record check is not the only line of defence.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SecretStore } from '../../src/stores/store.js';
import {
  isTokenClaims,
  MAX_CAP,
  MAX_CLIENTS,
  MAX_ORIGINS,
  MAX_TAGS,
  MAX_TTL_SECONDS,
  normalizeOrigin,
  checkMint,
  parseDuration,
  notAnOrigin,
  parseTags,
  parseTtl,
  TOKEN_ID,
} from '../../src/tokens/claims.js';
import { encodeToken } from '../../src/tokens/format.js';
import { LocalSigner } from '../../src/tokens/signer.js';
import type { TokenStore } from '../../src/tokens/token-store.js';
import { Tokens } from '../../src/tokens/tokens.js';
import { TOKEN_TYP, TokenVerifier } from '../../src/tokens/verifier.js';
import { claimsAt, signClaims } from '../support/hostile-minter.js';

const NOW = Date.UTC(2026, 0, 1, 12) / 1000;
const DAY = 86400;
const b64u = (value: string | Uint8Array) => Buffer.from(value).toString('base64url');

async function setup() {
  const signer = new LocalSigner(randomBytes(32));
  const verifier = new TokenVerifier({ publicKey: await signer.publicKey(), clock: () => NOW * 1000 });
  const sign = (over: Record<string, unknown>) => signClaims(signer, claimsAt(NOW, over));
  /** Correctly signed by our key, with this protected header instead of ours. */
  const signWithHeader = async (header: Record<string, unknown>) => {
    const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claimsAt(NOW)))}`;
    return encodeToken(`${input}.${b64u(await signer.sign(Buffer.from(input)))}`);
  };
  return { signer, verifier, sign, signWithHeader };
}

describe('a correctly signed token with bad claims', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['lives 7 days', { exp: NOW + 7 * DAY }],
    ['lives a day and a second', { exp: NOW + DAY + 1 }],
    ['allows the opaque origin "null"', { origins: ['null'] }],
    ['allows an origin with a path', { origins: ['https://app.example.com/x'] }],
    ['allows an origin not in canonical form', { origins: ['https://App.example.com'] }],
    ['allows an origin that is not a string', { origins: [42] }],
    ['allows no origin without native', { origins: [] }],
    ['has origins that are not a list', { origins: 'https://app.example.com' }],
    ['allows 33 origins', { origins: Array.from({ length: 33 }, (_, i) => `https://a${i}.example`) }],
    ['says native as a string', { native: 'true', origins: [] }],
    ['says native false', { native: false }],
    ['has a negative cost', { cost: -1 }],
    ['has a zero cost', { cost: 0 }],
    ['costs more than its spend cap', { cost: 11, spend: 10 }],
    ['has a spend above the cap of caps', { spend: MAX_CAP + 1 }],
    ['has a fractional rate', { rps: 1.5 }],
    ['has a rate of 0', { rps: 0 }],
    ['has a burst of 0', { burst: 0 }],
    ['has a rate given as a string', { rps: '5' }],
    ['has a jti that is too short', { jti: 'AAAAAAAAAAAAAAAAAAAAA' }],
    ['has a jti with a path in it', { jti: '../AAAAAAAAAAAAAAAAAAAA' }],
    ['has a jti with a newline after it', { jti: 'AAAAAAAAAAAAAAAAAAAAAA\n' }],
    ['has a jti that is not a string', { jti: 12345 }],
    ['has a malformed nonce', { nonce: 'short' }],
    ['has no nonce', { nonce: undefined }],
    ['names an invalid namespace', { sub: 'Acme/Web' }],
    ['names a namespace that is not a string', { sub: ['acme'] }],
    ['names an invalid secret', { key: 'OPENAI KEY' }],
    ['names a secret that is not a string', { key: 7 }],
    ['is dated after it becomes valid', { iat: NOW + 10, nbf: NOW }],
    ['ends when it starts', { exp: NOW, nbf: NOW, iat: NOW }],
    ['has a time that is not a whole number', { exp: NOW + 600.5 }],
    ['has a time of zero', { iat: 0 }],
    ['has 17 tags', { tags: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`t${i}`, 'v'])) }],
    ['has a tag with an uppercase key', { tags: { Run: '1' } }],
    ['has a tag whose value is not a string', { tags: { run: 1 } }],
    ['has tags that are a list', { tags: ['run=1'] }],
    ['has tags that are null', { tags: null }],
    ['has tags that are a string', { tags: '' }],
    ['has tags that are a number', { tags: 5 }],
    ['has a jti in a list', { jti: ['AAAAAAAAAAAAAAAAAAAAAA'] }],
    ['has a nonce in a list', { nonce: ['BBBBBBBBBBBBBBBBBBBBBB'] }],
    ['names its secret in a list', { key: ['OPENAI_KEY'] }],
    ['allows 0 clients', { maxClients: 0 }],
    ['allows more clients than any token may', { maxClients: 1001 }],
    ['allows a fractional number of clients', { maxClients: 2.5 }],
    ['allows clients given as a string', { maxClients: '3' }],
    ['allows clients given as null', { maxClients: null }],
    ['has a per-client rate of 0', { clientRps: 0 }],
    ['has a per-client rate above the cap of caps', { clientRps: MAX_CAP + 1 }],
    ['has a per-client rate given as a string', { clientRps: '2' }],
  ];
  for (const [name, over] of cases) {
    it(`is refused when it ${name}`, async () => {
      const { verifier, sign } = await setup();
      expect(await verifier.verify(await sign(over))).toEqual({ ok: false, reason: 'claims' });
    });
  }

  it('is accepted at the edges of every rule (so the refusals above are the rules, not the setup)', async () => {
    const { verifier, sign } = await setup();
    const edges: Record<string, unknown>[] = [
      { exp: NOW + DAY },
      { cost: 10, spend: 10 },
      { spend: MAX_CAP, rps: MAX_CAP, burst: MAX_CAP, cost: 1 },
      { origins: Array.from({ length: 32 }, (_, i) => `https://a${i}.example`) },
      { native: true, origins: [] },
      { tags: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, 'v'])) },
      { iat: NOW - 10, nbf: NOW },
      { origins: ['http://[::1]:8080', 'http://127.0.0.1:3000'] },
      { maxClients: 1, clientRps: 1 },
      { maxClients: 1000, clientRps: MAX_CAP },
    ];
    for (const over of edges) {
      const verdict = await verifier.verify(await sign(over));
      expect({ over, ok: verdict.ok }).toEqual({ over, ok: true });
    }
  });

  it('is refused when its kid is not the key’s, though our key signed it', async () => {
    const { verifier, signer, signWithHeader } = await setup();
    const kid = await signer.kid();
    const other = `${kid.slice(0, -1)}${kid.endsWith('A') ? 'B' : 'A'}`;
    expect(await verifier.verify(await signWithHeader({ alg: 'EdDSA', typ: TOKEN_TYP, kid: other }))).toEqual(
      {
        ok: false,
        reason: 'signature',
      },
    );
    expect(await verifier.verify(await signWithHeader({ alg: 'EdDSA', typ: TOKEN_TYP }))).toEqual({
      ok: false,
      reason: 'signature',
    });
    expect(await verifier.verify(await signWithHeader({ alg: 'EdDSA', typ: 'JWT', kid }))).toEqual({
      ok: false,
      reason: 'claims',
    });
    expect((await verifier.verify(await signWithHeader({ alg: 'EdDSA', typ: TOKEN_TYP, kid }))).ok).toBe(
      true,
    );
  });

  it('refuses a cached token valid from later when the clock is set back before its nbf', async () => {
    let now = NOW * 1000;
    const signer = new LocalSigner(randomBytes(32));
    const verifier = new TokenVerifier({ publicKey: await signer.publicKey(), clock: () => now });
    const token = await signClaims(signer, claimsAt(NOW, { iat: NOW, nbf: NOW + 25, exp: NOW + 600 }));
    expect((await verifier.verify(token)).ok).toBe(true);
    now -= 10_000;
    expect(verifier.verify(token)).toEqual({ ok: false, reason: 'not-yet-valid' });
  });

  it('needs an Ed25519 public key', async () => {
    const { publicKey } = generateKeyPairSync('x25519');
    expect(() => new TokenVerifier({ publicKey })).toThrow(
      new TypeError('the verifier needs an Ed25519 key'),
    );
  });

  it('carries only the known claims, frozen, and its tags as given', async () => {
    const { verifier, sign } = await setup();
    const verdict = await verifier.verify(await sign({ extra: 'x', tags: { run: '7' }, native: true }));
    if (!verdict.ok) throw new Error(`refused: ${verdict.reason}`);
    expect(verdict.claims).not.toHaveProperty('extra');
    expect(verdict.claims.tags).toEqual({ run: '7' });
    expect(verdict.claims.native).toBe(true);
    expect(Object.isFrozen(verdict.claims)).toBe(true);
    const plain = await verifier.verify(await sign({}));
    if (!plain.ok) throw new Error(`refused: ${plain.reason}`);
    expect(plain.claims).not.toHaveProperty('tags');
    expect(plain.claims).not.toHaveProperty('native');
    // A token from before client limits has none, and is served as before.
    expect(plain.claims).not.toHaveProperty('maxClients');
    expect(plain.claims).not.toHaveProperty('clientRps');
    const limited = await verifier.verify(await sign({ maxClients: 3, clientRps: 2 }));
    if (!limited.ok) throw new Error(`refused: ${limited.reason}`);
    expect([limited.claims.maxClients, limited.claims.clientRps]).toEqual([3, 2]);
  });
});

describe('isTokenClaims', () => {
  it('holds for good claims and for each bound exactly', () => {
    expect(isTokenClaims(claimsAt(NOW))).toBe(true);
    expect(isTokenClaims(claimsAt(NOW, { tags: {} }))).toBe(true);
    expect(isTokenClaims(claimsAt(NOW, { iat: 1, nbf: 1, exp: 2 }))).toBe(true);
  });

  it('refuses times of zero or below', () => {
    expect(isTokenClaims(claimsAt(NOW, { iat: 0, nbf: 0, exp: 600 }))).toBe(false);
    expect(isTokenClaims(claimsAt(NOW, { iat: -5, nbf: -5, exp: 600 }))).toBe(false);
    expect(isTokenClaims(claimsAt(NOW, { iat: 1, nbf: 1, exp: 600 }))).toBe(true);
  });

  it('pins the limits of the contract', () => {
    expect([MAX_TTL_SECONDS, MAX_ORIGINS, MAX_TAGS, MAX_CAP, MAX_CLIENTS]).toEqual([
      86400, 32, 16, 1e12, 1000,
    ]);
  });
});

describe('normalizeOrigin', () => {
  const cases: [string, string | undefined][] = [
    ['https://app.example.com', 'https://app.example.com'],
    ['HTTPS://APP.EXAMPLE.COM/', 'https://app.example.com'],
    ['http://app.example.com:80', 'http://app.example.com'],
    ['https://app.example.com:8443', 'https://app.example.com:8443'],
    ['http://127.0.0.1:3000', 'http://127.0.0.1:3000'],
    ['http://[::1]:8080', 'http://[::1]:8080'],
    ['https://[2001:DB8::1]', 'https://[2001:db8::1]'],
    ['https://bücher.example', 'https://xn--bcher-kva.example'],
    ['https://a-b.example.com', 'https://a-b.example.com'],
    ['https://localhost', 'https://localhost'],
    ['https://a.b.c', 'https://a.b.c'],
    ['https://app.example.com\\evil', undefined],
    ['https://*.example.com', undefined],
    ['https://a_b.example.com', undefined],
    ['https://-a.example.com', undefined],
    ['https://a-.example.com', undefined],
    ['https://app..example.com', undefined],
    [`https://${'a'.repeat(64)}.example`, undefined],
    ['https://app.example.com?', undefined],
    ['https://app.example.com#', undefined],
    ['https://app.example.com/?', undefined],
    ['https://app .example.com', undefined],
    ['https://app.example.com ', undefined],
    [' https://app.example.com', undefined],
    ['https://app.example.com/path', undefined],
    ['https://user:pw@app.example.com', undefined],
    ['https://:pw@app.example.com', undefined],
    ['ws://app.example.com', undefined],
    ['file://app.example.com', undefined],
    ['https://', undefined],
    ['https://[::1', undefined],
    ['null', undefined],
    [`https://${'a.'.repeat(150)}example`, undefined],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} → ${expected ?? 'not an origin'}`, () => {
      expect(normalizeOrigin(input)).toBe(expected);
    });
  }

  it('takes an origin of up to 300 characters, and not one more', () => {
    const host = (length: number) =>
      Array.from({ length: Math.ceil(length / 50) }, () => 'a'.repeat(49))
        .join('.')
        .slice(0, length);
    const at = (total: number) => `https://${host(total - 8)}`;
    expect(at(300)).toHaveLength(300);
    expect(normalizeOrigin(at(300))).toBe(at(300));
    expect(normalizeOrigin(`${at(300)}/`)).toBeUndefined();
  });

  it('quotes a refused value whole up to 80 characters', () => {
    const value = `https://${'a'.repeat(67)}/path`;
    expect(value).toHaveLength(80);
    expect(checkMint({ origins: [value], ttlSeconds: 60, rps: 1, spend: 1 })).toEqual({
      ok: false,
      problem: { rule: 'origin', value },
    });
    expect(notAnOrigin(value)).toMatchObject({
      message: `--origin ${JSON.stringify(value)} is not an origin`,
    });
  });

  it('names the flag and the value when an origin is refused', () => {
    expect(checkMint({ origins: ['https://*.example.com'], ttlSeconds: 60, rps: 1, spend: 1 })).toEqual({
      ok: false,
      problem: { rule: 'origin', value: 'https://*.example.com' },
    });
    expect(notAnOrigin('https://*.example.com')).toMatchObject({
      code: 'ERR_USAGE',
      message: '--origin "https://*.example.com" is not an origin',
      hint: 'give scheme://host[:port] exactly, e.g. https://app.example.com, with no path',
    });
    expect(notAnOrigin(`https://${'a'.repeat(100)}/x`, 'origins=')).toMatchObject({
      message: `origins= ${JSON.stringify(`https://${'a'.repeat(72)}…`)} is not an origin`,
    });
  });
});

describe('minting limits', () => {
  function minter() {
    const secrets = {
      getSecrets: async () => [{ name: 'OPENAI_KEY', upstream: 'https://api.openai.com', rev: 1 }],
      appendAudit: async () => ({}),
    } as unknown as SecretStore;
    const revoked: string[][] = [];
    const tokens = {
      putToken: async () => undefined,
      revocationVersion: async () => ({ version: 0, notBefore: 0 }),
      accountRevocation: async () => ({ version: 0, notBefore: 0 }),
      listTokens: async () => [],
      revoke: async (_ns: string, entries: { id: string }[]) => revoked.push(entries.map((e) => e.id)),
    } as unknown as TokenStore;
    const tokensApi = new Tokens({
      namespace: 'acme/web',
      signer: new LocalSigner(randomBytes(32)),
      tokens,
      secrets,
      actor: 'test',
      clock: () => NOW * 1000,
    });
    const mint = (over: Record<string, unknown>) =>
      tokensApi.mint({
        key: 'OPENAI_KEY',
        origins: ['https://app.example.com'],
        ttlSeconds: 600,
        rps: 5,
        spend: 100,
        ...over,
      });
    return { mint, tokensApi, revoked };
  }

  const refused: [string, Record<string, unknown>, string][] = [
    ['rps: 0', { rps: 0 }, '--rps must be a whole number from 1 to 1000000000000'],
    ['rps: 1.5', { rps: 1.5 }, '--rps must be a whole number from 1 to 1000000000000'],
    ['burst: 0', { burst: 0 }, '--burst must be a whole number from 1 to 1000000000000'],
    ['a spend of 1e13', { spend: 1e13 }, '--spend must be a whole number from 1 to 1000000000000'],
    ['a cost of 0', { cost: 0 }, '--cost must be a whole number from 1 to 1000000000000'],
    ['a cost above the spend', { cost: 101 }, '--cost is larger than --spend: no request could pass'],
    ['--max-clients 0', { maxClients: 0 }, '--max-clients must be a whole number from 1 to 1000'],
    ['--max-clients 1001', { maxClients: 1001 }, '--max-clients must be a whole number from 1 to 1000'],
    ['--client-rps 0', { clientRps: 0 }, '--client-rps must be a whole number from 1 to 1000000000000'],
    ['--client-rps 0.5', { clientRps: 0.5 }, '--client-rps must be a whole number from 1 to 1000000000000'],
    ['no origin', { origins: [] }, 'give 1 to 32 --origin values, or --allow-no-origin for a native app'],
    [
      '33 origins',
      { origins: Array.from({ length: 33 }, (_, i) => `https://a${i}.example`) },
      'give at most 32 --origin values',
    ],
    [
      'a wildcard origin',
      { origins: ['https://*.example.com'] },
      '--origin "https://*.example.com" is not an origin',
    ],
  ];
  for (const [name, over, message] of refused) {
    it(`refuses ${name}`, async () => {
      await expect(minter().mint(over)).rejects.toMatchObject({ code: 'ERR_USAGE', message });
    });
  }

  it('refuses 17 tags', () => {
    const pairs = Array.from({ length: 17 }, (_, i) => `t${i}=v`);
    expect(() => parseTags(pairs)).toThrow(
      expect.objectContaining({ code: 'ERR_USAGE', message: 'at most 16 tags per token' }),
    );
    expect(parseTags(['k=v'])).toEqual({ k: 'v' });
    expect(Object.keys(parseTags(pairs.slice(0, 16)))).toHaveLength(16);
  });

  it('accepts the caps at their bounds, and 32 origins', async () => {
    const { claims } = await minter().mint({
      rps: 1,
      burst: MAX_CAP,
      spend: MAX_CAP,
      cost: MAX_CAP,
      origins: Array.from({ length: 32 }, (_, i) => `https://a${i}.example`),
    });
    expect([claims.rps, claims.burst, claims.spend, claims.cost, claims.origins.length]).toEqual([
      1,
      MAX_CAP,
      MAX_CAP,
      MAX_CAP,
      32,
    ]);
    const at = (spend: number) =>
      checkMint({ origins: ['https://a.example'], ttlSeconds: 60, rps: 1, spend });
    expect(at(MAX_CAP)).toMatchObject({ ok: true, limits: { spend: MAX_CAP } });
    expect(at(MAX_CAP + 1)).toEqual({
      ok: false,
      problem: { rule: 'cap', field: 'spend', value: MAX_CAP + 1 },
    });
  });

  it('mints client limits only when asked, each at its bounds', async () => {
    const plain = await minter().mint({});
    expect(plain.claims).not.toHaveProperty('maxClients');
    expect(plain.claims).not.toHaveProperty('clientRps');
    const low = await minter().mint({ maxClients: 1, clientRps: 1 });
    expect([low.claims.maxClients, low.claims.clientRps]).toEqual([1, 1]);
    const high = await minter().mint({ maxClients: MAX_CLIENTS, clientRps: MAX_CAP });
    expect([high.claims.maxClients, high.claims.clientRps]).toEqual([MAX_CLIENTS, MAX_CAP]);
    const request = { origins: ['https://a.example'], ttlSeconds: 60, rps: 1, spend: 1 };
    expect(checkMint({ ...request, maxClients: MAX_CLIENTS + 1 })).toEqual({
      ok: false,
      problem: { rule: 'max-clients', value: MAX_CLIENTS + 1, max: MAX_CLIENTS },
    });
    expect(checkMint({ ...request, clientRps: MAX_CAP + 1 })).toEqual({
      ok: false,
      problem: { rule: 'cap', field: 'client-rps', value: MAX_CAP + 1 },
    });
    expect(checkMint({ ...request, maxClients: 2, clientRps: 3 })).toMatchObject({
      ok: true,
      limits: { maxClients: 2, clientRps: 3 },
    });
  });

  it('parses lifetimes in each unit, up to a day, and names the value when it refuses', () => {
    expect([parseTtl('1s'), parseTtl('2m'), parseTtl('3h'), parseTtl('1d'), parseTtl(' 86400 ')]).toEqual([
      1, 120, 10800, 86400, 86400,
    ]);
    for (const bad of ['86401', '2d', '1234567s', '1.5h', 'h', '1 h'])
      expect(() => parseTtl(bad), bad).toThrow(
        expect.objectContaining({
          code: 'ERR_USAGE',
          message: `--ttl ${JSON.stringify(bad)} is not a lifetime between 1s and 24h`,
          hint: 'use a number with s, m or h, e.g. 90s, 15m, 1h',
        }),
      );
    // A grace (from 0) is a duration by default.
    expect(parseDuration('0', '--grace', 0)).toBe(0);
    expect(() => parseDuration('1w', '--grace', 0)).toThrow(
      expect.objectContaining({ message: '--grace "1w" is not a duration between 0s and 24h' }),
    );
  });

  it('parses tags at the first =, and refuses bad ones by name', () => {
    expect(
      parseTags(['ref=refs/heads/main', 'who=a:b@c+d-e_f.g', `${'k'.repeat(32)}=${'v'.repeat(128)}`]),
    ).toEqual({
      ref: 'refs/heads/main',
      who: 'a:b@c+d-e_f.g',
      ['k'.repeat(32)]: 'v'.repeat(128),
    });
    for (const bad of ['k=a=b', `${'k'.repeat(33)}=v`, `k=${'v'.repeat(129)}`, '1k=v', 'k.=v\n'])
      expect(() => parseTags([bad]), bad).toThrow(
        expect.objectContaining({
          code: 'ERR_USAGE',
          message: expect.stringMatching(/^--tag ".+" is not a tag$/),
          hint: 'use key=value: a lowercase key (letters, digits, _ . -) and a value of letters, digits and _ . : / @ + -',
        }),
      );
  });

  it('refuses to revoke an id that is not a token id: ../AAAAAAAAAAAAAAAAAAAAAA', async () => {
    const { tokensApi, revoked } = minter();
    for (const id of [
      '../AAAAAAAAAAAAAAAAAAAAAA',
      'AAAAAAAAAAAAAAAAAAAAAA/..',
      'AAAAAAAAAAAAAAAAAAAAAAA',
      '',
    ]) {
      await expect(tokensApi.revoke([id]), id).rejects.toMatchObject({ code: 'ERR_USAGE' });
    }
    expect(revoked).toEqual([]);
    expect(TOKEN_ID.test('AAAAAAAAAAAAAAAAAAAAAA')).toBe(true);
    expect(TOKEN_ID.test('xAAAAAAAAAAAAAAAAAAAAAA')).toBe(false);
    expect(TOKEN_ID.test('AAAAAAAAAAAAAAAAAAAAAAx')).toBe(false);
  });
});
