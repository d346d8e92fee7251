import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/proxy/rate.js';
import type { SecretStore } from '../../src/stores/store.js';
import { normalizeOrigin, parseTags, parseTtl } from '../../src/tokens/claims.js';
import {
  decodeToken,
  encodeToken,
  MAX_TOKEN_CHARS,
  TOKEN_SCAN_REGEX,
  tokenDigest,
} from '../../src/tokens/format.js';
import { LocalSigner } from '../../src/tokens/signer.js';
import { SqliteTokenStore } from '../../src/tokens/sqlite-token-store.js';
import type { TokenRecord, TokenStore } from '../../src/tokens/token-store.js';
import { Tokens } from '../../src/tokens/tokens.js';
import { parseInject, parseUpstream } from '../../src/tokens/upstream.js';
import { TokenVerifier } from '../../src/tokens/verifier.js';

const NOW = Date.UTC(2026, 0, 1, 12);
/** When the provider key LEASED_KEY expires: a day after NOW. */
const LEASE_ENDS = new Date(NOW + 24 * 60 * 60 * 1000).toISOString();

/** Stores that hold just enough for minting: one secret with an upstream. */
function fakeStores() {
  const secrets = {
    getSecrets: async (_ns: string, names?: readonly string[]) =>
      names?.[0] === 'OPENAI_KEY'
        ? [{ name: 'OPENAI_KEY', upstream: 'https://api.openai.com', rev: 1 }]
        : names?.[0] === 'PLAIN'
          ? [{ name: 'PLAIN', rev: 1 }]
          : names?.[0] === 'LEASED_KEY'
            ? [{ name: 'LEASED_KEY', upstream: 'https://api.openai.com', rev: 1, expires: LEASE_ENDS }]
            : [],
    appendAudit: async () => ({}),
  } as unknown as SecretStore;
  const tokens = {
    putToken: async () => undefined,
    revocationVersion: async () => ({ version: 0, notBefore: 0 }),
    accountRevocation: async () => ({ version: 0, notBefore: 0 }),
  } as unknown as TokenStore;
  return { secrets, tokens };
}

async function setup(clock = () => NOW) {
  const seed = randomBytes(32);
  const signer = new LocalSigner(Buffer.from(seed));
  const { secrets, tokens } = fakeStores();
  const minter = (at: number) =>
    new Tokens({ namespace: 'acme/web', signer, tokens, secrets, actor: 'test', clock: () => at });
  const verifier = new TokenVerifier({ publicKey: await signer.publicKey(), clock });
  const mint = (at = NOW, over: Record<string, unknown> = {}) =>
    minter(at).mint({
      key: 'OPENAI_KEY',
      origins: ['https://app.example.com'],
      ttlSeconds: 600,
      rps: 5,
      spend: 100,
      ...over,
    });
  return { signer, verifier, mint, minter };
}

const b64u = (v: string | Buffer) => Buffer.from(v).toString('base64url');
const parts = (token: string) => decodeToken(token)!.split('.') as [string, string, string];

describe('token format', () => {
  it('round-trips a JWS and rejects a wrong prefix, checksum, character or length', () => {
    const token = encodeToken('eyJh.eyJi.c2ln');
    expect(decodeToken(token)).toBe('eyJh.eyJi.c2ln');
    expect(decodeToken(token.replace(/^egg_/, 'egx_'))).toBeUndefined();
    expect(decodeToken(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'))).toBeUndefined();
    expect(decodeToken(`${token} `)).toBeUndefined();
    expect(decodeToken(`egg_${'A'.repeat(MAX_TOKEN_CHARS)}`)).toBeUndefined();
  });

  it('mints tokens the documented scanning regex finds', async () => {
    const { token } = await (await setup()).mint();
    expect(`leaked: ${token} here`.match(TOKEN_SCAN_REGEX)).toEqual([token]);
  });

  it('finds a token whose checksum ends in "-" or "_", and not one glued to more base64url', () => {
    const body = `egg_eyJ${'a'.repeat(30)}.eyJ${'b'.repeat(40)}.${'c'.repeat(86)}`;
    for (const token of [`${body}.abcdefg-`, `${body}.abcdefg_`, `${body}.-bcdefgh`]) {
      expect(`leaked: ${token} here`.match(TOKEN_SCAN_REGEX)).toEqual([token]);
      expect(`"${token}",`.match(TOKEN_SCAN_REGEX)).toEqual([token]);
      expect(`${token}x`.match(TOKEN_SCAN_REGEX)).toBeNull();
      expect(`x${token}`.match(TOKEN_SCAN_REGEX)).toBeNull();
    }
  });
});

describe('claims and metadata parsing', () => {
  it.each([
    ['https://App.Example.com', 'https://app.example.com'],
    ['https://app.example.com:443', 'https://app.example.com'],
    ['http://localhost:5173/', 'http://localhost:5173'],
    ['https://app.example.com/path', undefined],
    ['https://user@app.example.com', undefined],
    ['javascript://x', undefined],
    ['https://app.example.com?x=1', undefined],
    ['null', undefined],
    ['*', undefined],
  ])('normalizes origin %s', (input, expected) => {
    expect(normalizeOrigin(input)).toBe(expected);
  });

  it('parses lifetimes up to a day', () => {
    expect([parseTtl('90s'), parseTtl('15m'), parseTtl('1h'), parseTtl('120')]).toEqual([90, 900, 3600, 120]);
    for (const bad of ['0s', '25h', '1w', '-1m', 'abc', '']) {
      expect(() => parseTtl(bad)).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    }
  });

  it('parses tags and refuses odd ones', () => {
    expect(parseTags(['run=123', 'attempt=2'])).toEqual({ run: '123', attempt: '2' });
    for (const bad of ['run', '=1', 'Run=1', 'run=a b', 'run=']) {
      expect(() => parseTags([bad])).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    }
  });

  it('pins upstreams to https origins (http only on loopback) and checks inject templates', () => {
    expect(parseUpstream('https://API.openai.com/')).toBe('https://api.openai.com');
    expect(parseUpstream('http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
    for (const bad of ['http://api.openai.com', 'https://api.openai.com/v1', 'ftp://x.example']) {
      expect(() => parseUpstream(bad)).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    }
    expect(parseInject('Authorization: Bearer {}')).toEqual({
      name: 'authorization',
      prefix: 'Bearer ',
      suffix: '',
    });
    expect(parseInject('x-api-key: {}')).toEqual({ name: 'x-api-key', prefix: '', suffix: '' });
    for (const bad of [
      'Authorization Bearer {}',
      'Host: {}',
      'x-key: none',
      'x-key: {}{}',
      'x\r\ny: {}',
      'x-key: a\n{}',
    ]) {
      expect(() => parseInject(bad)).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    }
  });
});

describe('minting', () => {
  it('mints a token the verifier accepts, with the claims asked for', async () => {
    const { mint, verifier } = await setup();
    const minted = await mint(NOW, { tags: { run: '7' }, burst: 9, cost: 2 });
    expect(minted.claims).toMatchObject({
      sub: 'acme/web',
      key: 'OPENAI_KEY',
      origins: ['https://app.example.com'],
      rps: 5,
      burst: 9,
      spend: 100,
      cost: 2,
      iat: NOW / 1000,
      nbf: NOW / 1000,
      exp: NOW / 1000 + 600,
      tags: { run: '7' },
    });
    expect(await verifier.verify(minted.token)).toEqual({
      ok: true,
      claims: minted.claims,
      digest: tokenDigest(minted.token),
    });
  });

  it('records the token digest and a nonce that no list or log carries', async () => {
    const records: TokenRecord[] = [];
    const { secrets, tokens } = fakeStores();
    const signer = new LocalSigner(randomBytes(32));
    const minter = new Tokens({
      namespace: 'acme/web',
      signer,
      tokens: { ...tokens, putToken: async (r: TokenRecord) => void records.push(r) } as TokenStore,
      secrets,
      actor: 'test',
      clock: () => NOW,
    });
    const spec = {
      key: 'OPENAI_KEY',
      origins: ['https://app.example.com'],
      ttlSeconds: 60,
      rps: 1,
      spend: 1,
    };
    const [a, b] = [await minter.mint(spec), await minter.mint(spec)];
    expect(records.map((r) => r.digest)).toEqual([tokenDigest(a.token), tokenDigest(b.token)]);
    expect(a.claims.nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(a.claims.nonce).not.toBe(b.claims.nonce);
    expect(JSON.stringify(records)).not.toContain(a.claims.nonce);
  });

  it('refuses to mint for an expired provider key, from the instant it expires', async () => {
    const { mint } = await setup();
    const lease = Date.parse(LEASE_ENDS);
    expect((await mint(lease - 1000, { key: 'LEASED_KEY' })).claims.key).toBe('LEASED_KEY');
    await expect(mint(lease, { key: 'LEASED_KEY' })).rejects.toMatchObject({
      code: 'ERR_SECRET_EXPIRED',
      message: `LEASED_KEY expired at ${LEASE_ENDS}, so no token can be minted for it`,
    });
  });

  it('refuses to mint for a secret without a pinned upstream, or one that does not exist', async () => {
    const { mint } = await setup();
    await expect(mint(NOW, { key: 'PLAIN' })).rejects.toMatchObject({
      code: 'ERR_USAGE',
      message: 'PLAIN has no pinned upstream, so no token can be minted for it',
    });
    await expect(mint(NOW, { key: 'MISSING' })).rejects.toMatchObject({ code: 'ERR_SECRET_NOT_FOUND' });
    await expect(mint(NOW, { origins: ['https://a.example/x'] })).rejects.toMatchObject({
      code: 'ERR_USAGE',
    });
    await expect(mint(NOW, { cost: 200 })).rejects.toMatchObject({ code: 'ERR_USAGE' });
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'a lifetime over 24 h, which no verifier accepts',
      { ttlSeconds: 86_401 },
      '--ttl must be a lifetime from 1s to 24h',
    ],
    ['a lifetime of no seconds', { ttlSeconds: 0 }, '--ttl must be a lifetime from 1s to 24h'],
    ['a fractional cap', { rps: 1.5 }, '--rps must be a whole number from 1 to 1000000000000'],
    ['a burst of 0', { burst: 0 }, '--burst must be a whole number from 1 to 1000000000000'],
    ['a cost above the spend cap', { cost: 200 }, '--cost is larger than --spend: no request could pass'],
  ])('refuses %s in the library, whichever edge asked (checkMint)', async (_, over, message) => {
    const { mint } = await setup();
    await expect(mint(NOW, over)).rejects.toMatchObject({ code: 'ERR_USAGE', message });
  });
});

describe('hostile tokens', () => {
  it('refuses each one', async () => {
    const { mint, verifier, signer } = await setup();
    const { token } = await mint();
    const [h, p, s] = parts(token);
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const pem = (await signer.publicKey()).export({ type: 'spki', format: 'pem' }) as string;
    const raw = (await signer.publicKey()).export({ format: 'jwk' }).x as string;
    const hs256 = (key: string | Buffer) => {
      const hh = b64u(JSON.stringify({ ...header, alg: 'HS256' }));
      return encodeToken(`${hh}.${p}.${createHmac('sha256', key).update(`${hh}.${p}`).digest('base64url')}`);
    };
    const other = new LocalSigner(randomBytes(32));
    const otherToken = (
      await new Tokens({
        namespace: 'acme/web',
        signer: other,
        ...fakeStores(),
        actor: 't',
        clock: () => NOW,
      }).mint({
        key: 'OPENAI_KEY',
        origins: ['https://app.example.com'],
        ttlSeconds: 600,
        rps: 5,
        spend: 100,
      })
    ).token;
    const [, , otherSig] = parts(otherToken);
    const cases: [string, string, string][] = [
      [
        'alg none, empty signature',
        encodeToken(`${b64u(JSON.stringify({ ...header, alg: 'none' }))}.${p}.`),
        'malformed',
      ],
      [
        'alg none, any signature',
        encodeToken(`${b64u(JSON.stringify({ ...header, alg: 'none' }))}.${p}.${s}`),
        'signature',
      ],
      ['HS256 signed with the public key (PEM)', hs256(pem), 'signature'],
      ['HS256 signed with the public key (raw)', hs256(Buffer.from(raw, 'base64url')), 'signature'],
      [
        'tampered payload',
        encodeToken(`${h}.${b64u(JSON.stringify({ ...payload, spend: 1e9 }))}.${s}`),
        'signature',
      ],
      [
        'tampered signature',
        encodeToken(`${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`),
        'signature',
      ],
      ['unknown kid', otherToken, 'signature'],
      ['our kid, another key', encodeToken(`${h}.${p}.${otherSig}`), 'signature'],
      [
        'no typ',
        encodeToken(`${b64u(JSON.stringify({ alg: 'EdDSA', kid: header.kid }))}.${p}.${s}`),
        'signature',
      ],
      ['bad prefix', token.replace(/^egg_/, 'egx_'), 'malformed'],
      ['bad checksum', `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`, 'malformed'],
      ['a 64 KB token', `egg_${'A'.repeat(64 * 1024)}`, 'malformed'],
      ['empty', '', 'malformed'],
    ];
    for (const [name, hostile, reason] of cases) {
      expect({ name, verdict: await verifier.verify(hostile) }).toEqual({
        name,
        verdict: { ok: false, reason },
      });
    }
  });

  it('refuses expired and not-yet-valid tokens beyond 30 s of skew, and accepts within it', async () => {
    const { mint, verifier } = await setup();
    const expired = await mint(NOW - 600_000 - 31_000);
    const skewed = await mint(NOW - 600_000 - 29_000);
    const early = await mint(NOW + 31_000);
    const slightlyEarly = await mint(NOW + 29_000);
    expect(await verifier.verify(expired.token)).toEqual({ ok: false, reason: 'expired' });
    expect((await verifier.verify(skewed.token)).ok).toBe(true);
    expect(await verifier.verify(early.token)).toEqual({ ok: false, reason: 'not-yet-valid' });
    expect((await verifier.verify(slightlyEarly.token)).ok).toBe(true);
  });

  it('checks the time again on every use of a cached token, and refuses it once expired', async () => {
    let now = NOW;
    const { mint, verifier } = await setup(() => now);
    const { token } = await mint();
    expect((await verifier.verify(token)).ok).toBe(true);
    expect(verifier.verify(token)).toMatchObject({ ok: true });
    now += 600_000 + 30_000;
    expect(verifier.verify(token)).toEqual({ ok: false, reason: 'expired' });
    // Forgotten once expired: a clock set back does not bring it back from the cache.
    now = NOW;
    const again = verifier.verify(token);
    expect(again).toBeInstanceOf(Promise);
    expect((await again).ok).toBe(true);
  });
});

describe('verified-token cache', () => {
  const flip = (token: string, at: number) =>
    `${token.slice(0, at)}${token[at] === 'A' ? 'B' : 'A'}${token.slice(at + 1)}`;

  it('answers a token verified before at once, and only for the exact same string', async () => {
    const { mint, verifier } = await setup();
    const { token } = await mint();
    const first = verifier.verify(token);
    expect(first).toBeInstanceOf(Promise);
    const verdict = await first;
    expect(verdict.ok).toBe(true);
    expect(verifier.verify(token)).toEqual(verdict);
    // One character off, in the header, the payload or the signature: the same cache slot
    // (the checksum is unchanged), verified afresh, and refused.
    const [h, p] = parts(token);
    for (const at of [6, 4 + h.length + 5, 4 + h.length + p.length + 10]) {
      const near = verifier.verify(flip(token, at));
      expect(near).toBeInstanceOf(Promise);
      expect(await near).toEqual({ ok: false, reason: 'malformed' });
    }
    for (const near of [`${token}A`, ` ${token}`, `${token} ${token}`, token.slice(0, -1)]) {
      expect(await verifier.verify(near)).toEqual({ ok: false, reason: 'malformed' });
    }
    expect(verifier.verify(token)).toEqual(verdict);
  });

  it('keeps at most cacheSize tokens, the oldest out first, and none with cacheSize 0', async () => {
    const { mint, signer } = await setup();
    const verifier = new TokenVerifier({
      publicKey: await signer.publicKey(),
      clock: () => NOW,
      cacheSize: 2,
    });
    const [a, b, c] = await Promise.all([mint(), mint(), mint()]);
    for (const { token } of [a, b, c]) expect((await verifier.verify(token)).ok).toBe(true);
    expect(verifier.verify(c.token)).not.toBeInstanceOf(Promise);
    expect(verifier.verify(b.token)).not.toBeInstanceOf(Promise);
    const evicted = verifier.verify(a.token);
    expect(evicted).toBeInstanceOf(Promise);
    expect((await evicted).ok).toBe(true);
    const uncached = new TokenVerifier({
      publicKey: await signer.publicKey(),
      clock: () => NOW,
      cacheSize: 0,
    });
    expect((await uncached.verify(a.token)).ok).toBe(true);
    expect(uncached.verify(a.token)).toBeInstanceOf(Promise);
  });
});

describe('rate limiter', () => {
  it('allows a burst, then refills at rps, with a Retry-After', () => {
    let now = 0;
    const rate = new RateLimiter({ clock: () => now });
    expect([rate.take('t', 2, 3), rate.take('t', 2, 3), rate.take('t', 2, 3)].every((v) => v.ok)).toBe(true);
    expect(rate.take('t', 2, 3)).toEqual({ ok: false, retryAfterSeconds: 1 });
    now += 500;
    expect(rate.take('t', 2, 3).ok).toBe(true);
    expect(rate.take('t', 2, 3).ok).toBe(false);
    expect(rate.take('other', 2, 3).ok).toBe(true);
  });
});

describe('SQLite token records', () => {
  it('adds digest and spent to a vault file from before, and its old records validate nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egg-tokens-'));
    try {
      const path = join(dir, 'vault.db');
      const old = new DatabaseSync(path);
      old.exec(`CREATE TABLE tokens (
        namespace TEXT NOT NULL, id TEXT NOT NULL, key TEXT NOT NULL, origins TEXT NOT NULL,
        rps INTEGER NOT NULL, burst INTEGER NOT NULL, spend INTEGER NOT NULL, cost INTEGER NOT NULL,
        iat INTEGER NOT NULL, exp INTEGER NOT NULL, tags TEXT NOT NULL, actor TEXT NOT NULL,
        PRIMARY KEY (namespace, id)) STRICT;
        INSERT INTO tokens VALUES ('acme/web', 'AAAAAAAAAAAAAAAAAAAAAA', 'K', '[]', 1, 1, 10, 1, 1, 2, '{}', 'a');`);
      old.close();
      chmodSync(path, 0o600);
      const store = new SqliteTokenStore(path);
      try {
        expect(await store.reserveSpend('acme/web', 'AAAAAAAAAAAAAAAAAAAAAA', '', 1, 10)).toEqual({
          ok: false,
          reason: 'unknown-token',
        });
        const record = { ...(await store.listTokens('acme/web'))[0]!, id: 'BBBBBBBBBBBBBBBBBBBBBB' };
        await store.putToken({ ...record, digest: 'd1' });
        const reserve = (digest: string, ns = 'acme/web') =>
          store.reserveSpend(ns, 'BBBBBBBBBBBBBBBBBBBBBB', digest, 4, 10);
        const spent = async () =>
          (await store.listTokens('acme/web')).find((t) => t.id === 'BBBBBBBBBBBBBBBBBBBBBB')?.spent;
        expect(await reserve('d1')).toEqual({ ok: true });
        expect(await spent()).toBe(4);
        expect(await reserve('d2')).toEqual({ ok: false, reason: 'unknown-token' });
        expect(await reserve('d1', 'acme/other')).toEqual({ ok: false, reason: 'unknown-token' });
        expect(await reserve('d1')).toEqual({ ok: true });
        expect(await reserve('d1')).toEqual({ ok: false, reason: 'spend-cap', spent: 8 });
        expect(await spent()).toBe(8);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
