/**
 * Token times (DESIGN, Contracts: "iat ≤ nbf, iat ≤ now + 30 s, exp − min(iat, nbf) ≤ 24 h").
 * The minting role may be the attacker: every token here is correctly signed with the real
 * Ed25519 seed and carries the hostile times, so only the time rules can refuse it.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SecretStore } from '../../src/stores/store.js';
import { isTokenClaims, MAX_TTL_SECONDS } from '../../src/tokens/claims.js';
import { LocalSigner } from '../../src/tokens/signer.js';
import type { TokenRecord, TokenStore } from '../../src/tokens/token-store.js';
import { Tokens } from '../../src/tokens/tokens.js';
import { TokenVerifier } from '../../src/tokens/verifier.js';
import { claimsAt, signClaims } from '../support/hostile-minter.js';

const NOW = Date.UTC(2026, 0, 1, 12) / 1000;
const YEAR = 365 * 86400;

async function setup(clock: () => number = () => NOW * 1000) {
  const signer = new LocalSigner(randomBytes(32));
  const verifier = new TokenVerifier({ publicKey: await signer.publicKey(), clock });
  const sign = (over: Record<string, unknown>) => signClaims(signer, claimsAt(NOW, over));
  return { signer, verifier, sign };
}

describe('token times', () => {
  it('refuses a token whose iat is a year ahead', async () => {
    const { verifier, sign } = await setup();
    // The review's token: valid now (nbf = now), dated a year ahead, so no kill switch before then voids it.
    const token = await sign({ iat: NOW + YEAR, nbf: NOW, exp: NOW + 3600 });
    expect(await verifier.verify(token)).toEqual({ ok: false, reason: 'claims' });
    // Dated and valid from a year ahead: not valid now either.
    const dormant = await sign({ iat: NOW + YEAR, nbf: NOW + YEAR, exp: NOW + YEAR + 3600 });
    expect(await verifier.verify(dormant)).toEqual({ ok: false, reason: 'not-yet-valid' });
  });

  it('refuses iat after nbf', async () => {
    const { verifier, sign } = await setup();
    for (const ahead of [1, 20, 3600]) {
      const token = await sign({ iat: NOW + ahead, nbf: NOW, exp: NOW + 600 });
      expect({ ahead, verdict: await verifier.verify(token) }).toEqual({
        ahead,
        verdict: { ok: false, reason: 'claims' },
      });
    }
  });

  it('refuses a lifetime over 24 h measured from min(iat, nbf)', async () => {
    const { verifier, sign } = await setup();
    // exp − iat is under a day, but the token is valid from nbf, 25 h before exp.
    const early = await sign({ iat: NOW + 2 * 3600, nbf: NOW - 23 * 3600, exp: NOW + 2 * 3600 + 3600 });
    expect(await verifier.verify(early)).toEqual({ ok: false, reason: 'claims' });
    const long = await sign({ iat: NOW, nbf: NOW, exp: NOW + MAX_TTL_SECONDS + 1 });
    expect(await verifier.verify(long)).toEqual({ ok: false, reason: 'claims' });
    const day = await sign({ iat: NOW, nbf: NOW, exp: NOW + MAX_TTL_SECONDS });
    expect((await verifier.verify(day)).ok).toBe(true);
  });

  it('accepts iat up to 30 s ahead (clock skew) and refuses it 31 s ahead', async () => {
    const { verifier, sign } = await setup();
    const skewed = await sign({ iat: NOW + 30, nbf: NOW + 30, exp: NOW + 630 });
    expect((await verifier.verify(skewed)).ok).toBe(true);
    const ahead = await sign({ iat: NOW + 31, nbf: NOW + 31, exp: NOW + 631 });
    expect(await verifier.verify(ahead)).toEqual({ ok: false, reason: 'not-yet-valid' });
    // nbf after iat is fine: a token dated now and valid from later.
    const later = await sign({ iat: NOW, nbf: NOW + 20, exp: NOW + 600 });
    expect((await verifier.verify(later)).ok).toBe(true);
  });

  it('checks the time rules again on a cached verdict, so a clock set back cannot let it through', async () => {
    let now = NOW * 1000;
    const { verifier, sign } = await setup(() => now);
    const token = await sign({ iat: NOW + 25, nbf: NOW + 25, exp: NOW + 625 });
    expect((await verifier.verify(token)).ok).toBe(true);
    // The verdict is cached: the same string is answered at once...
    expect(verifier.verify(token)).toMatchObject({ ok: true });
    // ...but when the clock is set back, its iat is more than 30 s ahead again: refused.
    now -= 10_000;
    expect(verifier.verify(token)).toEqual({ ok: false, reason: 'not-yet-valid' });
    now += 10_000;
    expect(verifier.verify(token)).toMatchObject({ ok: true });
  });

  it.each([
    ['iat = nbf < exp', { iat: 100, nbf: 100, exp: 200 }, true],
    ['iat < nbf < exp', { iat: 100, nbf: 150, exp: 200 }, true],
    ['iat > nbf', { iat: 101, nbf: 100, exp: 200 }, false],
    ['nbf = exp', { iat: 100, nbf: 200, exp: 200 }, false],
    ['exp − iat = 24 h', { iat: 100, nbf: 100, exp: 100 + MAX_TTL_SECONDS }, true],
    ['exp − iat = 24 h + 1 s', { iat: 100, nbf: 100, exp: 101 + MAX_TTL_SECONDS }, false],
    ['exp − nbf ≤ 24 h but exp − iat > 24 h', { iat: 100, nbf: 5000, exp: 5000 + MAX_TTL_SECONDS }, false],
    ['exp before iat', { iat: 300, nbf: 100, exp: 200 }, false],
    ['iat a fraction', { iat: 100.5, nbf: 101, exp: 200 }, false],
    ['iat a string', { iat: '100', nbf: 100, exp: 200 }, false],
  ])('claims with %s', (_name, times, expected) => {
    expect(isTokenClaims(claimsAt(100, times))).toBe(expected);
  });
});

/** Minting in a namespace never kill-switched, under the account head `accountRevocation`. */
function underAccountEpoch(accountRevocation: TokenStore['accountRevocation'], clock: () => number): Tokens {
  return new Tokens({
    namespace: 'acme/web',
    signer: new LocalSigner(randomBytes(32)),
    tokens: {
      revocationVersion: async () => ({ version: 0, notBefore: 0 }),
      accountRevocation,
      putToken: async () => undefined,
    } as unknown as TokenStore,
    secrets: {
      getSecrets: async () => [{ name: 'OPENAI_KEY', upstream: 'https://api.openai.com', rev: 1 }],
      appendAudit: async () => undefined,
    } as unknown as SecretStore,
    actor: 'test',
    clock,
  });
}

describe('minting while a kill switch runs', () => {
  it('discards a token whose mint raced a kill switch, so a fast clock cannot carry it past the mark', async () => {
    // The kill switch lands between the mint's read of the epoch and its record's write: the
    // record escaped the mark, and a minting clock running ahead dates the token after the
    // epoch. The token string must never leave mint().
    const heads = [
      { version: 1, notBefore: 0 },
      { version: 2, notBefore: NOW + 1 },
    ];
    const written: string[] = [];
    const audited: string[] = [];
    const tokens = new Tokens({
      namespace: 'acme/web',
      signer: new LocalSigner(randomBytes(32)),
      tokens: {
        revocationVersion: async () => heads.shift() ?? { version: 2, notBefore: NOW + 1 },
        accountRevocation: async () => ({ version: 0, notBefore: 0 }),
        putToken: async (r: TokenRecord) => void written.push(r.id),
      } as unknown as TokenStore,
      secrets: {
        getSecrets: async () => [{ name: 'OPENAI_KEY', upstream: 'https://api.openai.com', rev: 1 }],
        appendAudit: async (_ns: string, build: (head: undefined) => { action: string }) =>
          void audited.push(build(undefined).action),
      } as unknown as SecretStore,
      actor: 'fast-clock',
      clock: () => (NOW + 25) * 1000,
    });
    await expect(
      tokens.mint({
        key: 'OPENAI_KEY',
        origins: ['https://app.example.com'],
        ttlSeconds: 60,
        rps: 1,
        spend: 1,
      }),
    ).rejects.toMatchObject({
      code: 'ERR_CONFLICT',
      message: 'egg killswitch ran while this token was being minted, so it was discarded',
    });
    expect({ written: written.length, audited }).toEqual({ written: 1, audited: ['token.mint'] });
  });
  it('discards a token whose mint raced egg killswitch --all (the account epoch moved, no record was marked)', async () => {
    const accounts = [
      { version: 0, notBefore: 0 },
      { version: 1, notBefore: NOW + 1 },
    ];
    const tokens = underAccountEpoch(
      async () => accounts.shift() ?? { version: 1, notBefore: NOW + 1 },
      () => (NOW + 25) * 1000,
    );
    await expect(
      tokens.mint({
        key: 'OPENAI_KEY',
        origins: ['https://app.example.com'],
        ttlSeconds: 60,
        rps: 1,
        spend: 1,
      }),
    ).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
  });

  it('dates a token minted after egg killswitch --all at the account epoch, so it is valid at once', async () => {
    const tokens = underAccountEpoch(
      async () => ({ version: 1, notBefore: NOW + 1 }),
      () => NOW * 1000,
    );
    const minted = await tokens.mint({
      key: 'OPENAI_KEY',
      origins: ['https://app.example.com'],
      ttlSeconds: 60,
      rps: 1,
      spend: 1,
    });
    expect(minted.claims.iat).toBe(NOW + 1);
  });
});
