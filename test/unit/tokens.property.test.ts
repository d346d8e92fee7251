/**
 * Property tests for the token claims parser (issue 13): `isTokenClaims` and the verifier
 * around it. The minter may be the attacker (a role allowed to sign can sign any claims),
 * so the payloads here are signed with the trusted key:
 * - no input crashes them: any JSON payload, any string as a token;
 * - none grants more than its claims: an accepted token's claims are exactly the signed
 *   ones (nothing added, nothing widened), and they keep every documented bound (times,
 *   caps, origins, tags), whatever else the payload held.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isTokenClaims,
  MAX_CAP,
  MAX_ORIGINS,
  MAX_TAGS,
  MAX_TTL_SECONDS,
  normalizeOrigin,
  TOKEN_ID,
} from '../../src/tokens/claims.js';
import { encodeToken } from '../../src/tokens/format.js';
import { LocalSigner } from '../../src/tokens/signer.js';
import { TOKEN_TYP, TokenVerifier } from '../../src/tokens/verifier.js';
import { isNamespace, isSecretName } from '../../src/names.js';

const NOW = 1_767_268_800; // 2026-01-01T12:00:00Z, in seconds
const b64u = (v: string | Uint8Array) => Buffer.from(v).toString('base64url');

/** A well-formed claim set, the base each hostile payload is made from. */
const VALID = {
  jti: b64u(randomBytes(16)),
  nonce: b64u(randomBytes(16)),
  sub: 'acme/web',
  key: 'OPENAI_KEY',
  origins: ['https://app.example.com'],
  rps: 5,
  burst: 5,
  spend: 100,
  cost: 1,
  iat: NOW,
  nbf: NOW,
  exp: NOW + 600,
};

/** Values near every edge a claim has, and any JSON at all. */
const edgy = fc.oneof(
  fc.constantFrom(
    0,
    -1,
    1,
    0.5,
    NOW,
    NOW + MAX_TTL_SECONDS,
    NOW + MAX_TTL_SECONDS + 1,
    NOW - 60,
    NOW + 31,
    MAX_CAP,
    MAX_CAP + 1,
    2 ** 53,
    '',
    '5',
    true,
    null,
    [],
    {},
    'acme/web',
    'acme/../web',
    'Acme',
    'https://app.example.com',
    'https://APP.example.com',
    'https://app.example.com/',
    'https://app.example.com:443',
    'http://localhost:5173',
    'null',
    ['https://app.example.com', 'https://evil.example'],
    [],
    ['https://app.example.com/path'],
    ['HTTPS://app.example.com'],
    Array.from({ length: MAX_ORIGINS + 1 }, (_, i) => `https://h${i}.example.com`),
    { team: 'a' },
    { Team: 'a' },
    { team: 'a b' },
    Object.fromEntries(Array.from({ length: MAX_TAGS + 1 }, (_, i) => [`t${i}`, 'v'])),
    'AAAAAAAAAAAAAAAAAAAAAA',
  ),
  fc.jsonValue({ maxDepth: 2 }),
);

const CLAIMS = [...Object.keys(VALID), 'native', 'tags'] as const;

/**
 * A payload made from a valid one: some claims replaced by edge values or any JSON, some
 * dropped, and unknown members added (including `__proto__`, as JSON.parse would keep it).
 */
const payload = fc
  .record({
    replace: fc.dictionary(fc.constantFrom(...CLAIMS), edgy, { maxKeys: 3 }),
    drop: fc.array(fc.constantFrom(...CLAIMS), { maxLength: 2 }),
    extra: fc.dictionary(
      fc.oneof(fc.constantFrom('__proto__', 'constructor', 'admin', 'scope'), fc.string()),
      fc.jsonValue({ maxDepth: 1 }),
      { maxKeys: 3 },
    ),
  })
  .map(({ replace, drop, extra }) => {
    const p: Record<string, unknown> = { ...VALID };
    for (const [k, v] of Object.entries(replace)) p[k] = v;
    for (const k of drop) if (!(k in replace)) delete p[k];
    // Through JSON text, so that `__proto__` is an own member as in a real token.
    const members = [...Object.entries(extra), ...Object.entries(p)].map(
      ([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`,
    );
    return JSON.parse(`{${members.join(',')}}`) as Record<string, unknown>;
  });

/** The documented bounds every accepted claim set keeps (claims.ts, DESIGN Token times). */
function expectWithinBounds(c: Record<string, unknown>): void {
  const n = (k: string) => c[k] as number;
  expect(TOKEN_ID.test(c.jti as string) && TOKEN_ID.test(c.nonce as string)).toBe(true);
  expect(isNamespace(c.sub as string) && isSecretName(c.key as string)).toBe(true);
  for (const cap of ['rps', 'burst', 'spend', 'cost']) {
    expect(Number.isSafeInteger(n(cap)) && n(cap) >= 1 && n(cap) <= MAX_CAP).toBe(true);
  }
  expect(n('cost')).toBeLessThanOrEqual(n('spend'));
  expect(n('iat')).toBeLessThanOrEqual(n('nbf'));
  expect(n('exp')).toBeGreaterThan(n('nbf'));
  expect(n('exp') - n('iat')).toBeLessThanOrEqual(MAX_TTL_SECONDS);
  const origins = c.origins as string[];
  expect(origins.length).toBeLessThanOrEqual(MAX_ORIGINS);
  expect(origins.length >= 1 || c.native === true).toBe(true);
  for (const o of origins) expect(normalizeOrigin(o)).toBe(o);
  expect(c.native === undefined || c.native === true).toBe(true);
  if (c.tags !== undefined) expect(Object.keys(c.tags as object).length).toBeLessThanOrEqual(MAX_TAGS);
}

async function setup() {
  const signer = new LocalSigner(randomBytes(32));
  const verifier = new TokenVerifier({ publicKey: await signer.publicKey(), clock: () => NOW * 1000 });
  const header = b64u(JSON.stringify({ alg: 'EdDSA', typ: TOKEN_TYP, kid: await signer.kid() }));
  /** A token over exactly these payload bytes, signed with the key the verifier trusts. */
  const sign = async (body: Record<string, unknown>) => {
    const input = `${header}.${b64u(JSON.stringify(body))}`;
    return encodeToken(`${input}.${b64u(await signer.sign(Buffer.from(input)))}`);
  };
  return { verifier, sign };
}

describe('isTokenClaims, for any payload', () => {
  it('never throws, and accepts only claims within every bound', () => {
    fc.assert(
      fc.property(fc.oneof(payload, fc.dictionary(fc.string(), fc.jsonValue())), (p) => {
        if (isTokenClaims(p)) expectWithinBounds(p);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('the verifier, for any signed payload or any string', () => {
  it('never throws, and an accepted token carries exactly its signed claims, within every bound', async () => {
    const { verifier, sign } = await setup();
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(payload, async (p) => {
        const verdict = await verifier.verify(await sign(p));
        if (!verdict.ok) return;
        accepted++;
        const claims = verdict.claims as unknown as Record<string, unknown>;
        expectWithinBounds(claims);
        // Nothing that was not signed, and every claim as signed: no widening on the way.
        for (const [k, v] of Object.entries(claims)) expect(v).toEqual(p[k]);
        expect(Object.keys(claims).every((k) => (CLAIMS as readonly string[]).includes(k))).toBe(true);
        expect(Object.getPrototypeOf(claims)).toBe(Object.prototype);
        expect(Object.isFrozen(claims)).toBe(true);
      }),
      { numRuns: 1500 },
    );
    // The property must have seen accepted tokens, not only refusals.
    expect(accepted).toBeGreaterThan(100);
  });

  it('answers any string with a verdict, never an exception', async () => {
    const { verifier, sign } = await setup();
    const real = await sign(VALID);
    const mutated = fc
      .tuple(fc.nat(), fc.string({ maxLength: 4 }), fc.nat({ max: 4 }))
      .map(([at, text, cut]) => {
        const i = at % real.length;
        return `${real.slice(0, i)}${text}${real.slice(i + cut)}`;
      });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.string().map((s) => `egg_${s}`),
          mutated,
        ),
        async (token) => {
          const verdict = await verifier.verify(token);
          expect(typeof verdict.ok).toBe('boolean');
          if (verdict.ok) expect(token).toBe(real);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
