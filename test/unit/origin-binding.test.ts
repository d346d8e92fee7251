/**
 * Origin binding (issue 9, item 6): a token bound to web origins needs an `Origin` that is
 * one of them; only a token minted with `--allow-no-origin` (claim `native: true`) may be
 * used without one. The comparison is the one docs/tokens.md states: ASCII case-insensitive
 * on scheme and host, the port exactly, no trimming, and `null` never matches.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { originAllowed } from '../../src/proxy/origin.js';
import type { SecretStore } from '../../src/stores/store.js';
import { isTokenClaims } from '../../src/tokens/claims.js';
import { LocalSigner } from '../../src/tokens/signer.js';
import type { TokenRecord, TokenStore } from '../../src/tokens/token-store.js';
import { type MintInput, Tokens } from '../../src/tokens/tokens.js';
import { TokenVerifier } from '../../src/tokens/verifier.js';
import { claimsAt, signClaims } from '../support/hostile-minter.js';

const APP = 'https://app.example.com';
const LOCAL = 'http://localhost:5173';
const NOW = Date.UTC(2026, 0, 1, 12);

describe('the proxy origin decision', () => {
  const web = { origins: [APP, LOCAL] };
  const both = { origins: [APP], native: true as const };
  const nativeOnly = { origins: [], native: true as const };
  const kelvin = { origins: ['https://key.example.com'] };
  it.each([
    ['no Origin, web token', undefined, web, false],
    ['no Origin, token minted --allow-no-origin with origins', undefined, both, true],
    ['no Origin, native-only token', undefined, nativeOnly, true],
    ['an allowed origin', APP, web, true],
    ['an allowed origin with a port', LOCAL, web, true],
    ['upper-case scheme and host', 'HTTPS://APP.EXAMPLE.COM', web, true],
    ['mixed-case host', 'https://App.Example.Com', web, true],
    ['another port', 'http://localhost:5174', web, false],
    ['the default port written out', 'https://app.example.com:443', web, false],
    ['another scheme', 'http://app.example.com', web, false],
    ['a trailing slash', 'https://app.example.com/', web, false],
    ['a leading space (never trimmed)', ` ${APP}`, web, false],
    ['a trailing space (never trimmed)', `${APP} `, web, false],
    ['two origins joined', `${APP}, ${APP}`, web, false],
    ['an empty Origin', '', web, false],
    ['an empty Origin, native token', '', both, false],
    ['null', 'null', web, false],
    ['null, native token', 'null', both, false],
    ['NULL, native-only token', 'NULL', nativeOnly, false],
    ['a suffix of an allowed host', 'https://evil-app.example.com', web, false],
    ['an allowed host as a prefix', 'https://app.example.com.evil.example', web, false],
    ['another origin, token with --allow-no-origin', 'https://evil.example', both, false],
    ['any origin, native-only token', APP, nativeOnly, false],
    // U+212A KELVIN SIGN lowercases to "k" under Unicode case folding; ASCII folding leaves it.
    ['a Unicode look-alike that folds to an allowed host', 'https://\u212Aey.example.com', kelvin, false],
    // U+0130 (İ) lowercases to "i̇" in Unicode; never folded either.
    [
      'a Unicode capital I with dot',
      'https://\u0130.example.com',
      { origins: ['https://i.example.com'] },
      false,
    ],
  ] as const)('%s', (_name, header, token, expected) => {
    expect(originAllowed(header, token)).toBe(expected);
  });
});

describe('the native-app flag in claims', () => {
  const claims = (over: Record<string, unknown>) => claimsAt(NOW / 1000, over);
  it.each([
    ['web origins, no flag', { origins: [APP] }, true],
    ['the flag and origins', { origins: [APP], native: true }, true],
    ['the flag and no origins', { origins: [], native: true }, true],
    ['no origins and no flag', { origins: [] }, false],
    ['origins ["null"]', { origins: ['null'] }, false],
    ['origins ["null"] with the flag', { origins: ['null'], native: true }, false],
    ['a non-canonical origin', { origins: ['HTTPS://APP.EXAMPLE.COM'] }, false],
    ['an origin with a default port', { origins: ['https://app.example.com:443'] }, false],
    ['the flag false (never written: absent means false)', { origins: [APP], native: false }, false],
    ['the flag as a string', { origins: [], native: 'true' }, false],
    ['the flag as a number', { origins: [], native: 1 }, false],
    ['the flag null', { origins: [APP], native: null }, false],
    ['origins not a list', { origins: APP }, false],
  ])('%s', (_name, over, expected) => {
    expect(isTokenClaims(claims(over))).toBe(expected);
  });

  it('refuses a correctly signed token whose flag is not exactly true', async () => {
    const signer = new LocalSigner(randomBytes(32));
    const verifier = new TokenVerifier({ publicKey: await signer.publicKey(), clock: () => NOW });
    for (const native of ['true', 1, false]) {
      const token = await signClaims(signer, claims({ origins: [], native }));
      expect({ native, verdict: await verifier.verify(token) }).toEqual({
        native,
        verdict: { ok: false, reason: 'claims' },
      });
    }
    const token = await signClaims(signer, claims({ origins: [], native: true }));
    expect(await verifier.verify(token)).toMatchObject({ ok: true, claims: { origins: [], native: true } });
  });
});

describe('minting with --allow-no-origin', () => {
  async function setup() {
    const records: TokenRecord[] = [];
    const secrets = {
      getSecrets: async () => [{ name: 'OPENAI_KEY', upstream: 'https://api.openai.com', rev: 1 }],
      appendAudit: async () => ({}),
    } as unknown as SecretStore;
    const tokens = {
      putToken: async (r: TokenRecord) => void records.push(r),
      revocationVersion: async () => ({ version: 0, notBefore: 0 }),
      accountRevocation: async () => ({ version: 0, notBefore: 0 }),
    } as unknown as TokenStore;
    const signer = new LocalSigner(randomBytes(32));
    const minter = new Tokens({
      namespace: 'acme/web',
      signer,
      tokens,
      secrets,
      actor: 't',
      clock: () => NOW,
    });
    const verifier = new TokenVerifier({ publicKey: await signer.publicKey(), clock: () => NOW });
    const mint = (over: Partial<MintInput>) =>
      minter.mint({ key: 'OPENAI_KEY', origins: [], ttlSeconds: 60, rps: 1, spend: 1, ...over });
    return { records, verifier, mint };
  }

  it('refuses a token with no origins unless it is minted for native apps', async () => {
    const { mint } = await setup();
    await expect(mint({})).rejects.toMatchObject({
      code: 'ERR_USAGE',
      message: 'give 1 to 32 --origin values, or --allow-no-origin for a native app',
    });
  });

  it('marks a native token in its claims and its record, with or without origins', async () => {
    const { mint, records, verifier } = await setup();
    const nativeOnly = await mint({ allowNoOrigin: true });
    expect(nativeOnly.claims).toMatchObject({ origins: [], native: true });
    const both = await mint({ allowNoOrigin: true, origins: [APP] });
    expect(both.claims).toMatchObject({ origins: [APP], native: true });
    const web = await mint({ origins: [APP] });
    expect(web.claims).not.toHaveProperty('native');
    expect(records.map((r) => [r.origins, r.allowNoOrigin])).toEqual([
      [[], true],
      [[APP], true],
      [[APP], false],
    ]);
    for (const { token, claims } of [nativeOnly, both, web])
      expect(await verifier.verify(token)).toMatchObject({ ok: true, claims });
  });
});
