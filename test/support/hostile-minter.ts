/**
 * What a hostile minter does: a principal allowed to sign (the local seed, or `kms:Sign` on
 * the Ed25519 key) and to write its namespace's token items signs whatever claims it likes
 * and writes their record itself, bypassing `Tokens.mint` and its checks. Tests use it to
 * prove that the verifier and the proxy refuse correctly signed tokens with hostile times or
 * origins: a forged signature would be refused anyway and prove nothing.
 */
import { randomBytes } from 'node:crypto';
import type { TokenClaims } from '../../src/tokens/claims.js';
import { encodeToken, tokenDigest } from '../../src/tokens/format.js';
import type { TokenSigner } from '../../src/tokens/signer.js';
import type { TokenStore } from '../../src/tokens/token-store.js';
import { TOKEN_TYP } from '../../src/tokens/verifier.js';

const b64u = (value: string | Uint8Array) => Buffer.from(value).toString('base64url');

/** Sensible claims for `namespace`/`key` at `nowSeconds`, to be overridden with the hostile ones. */
export function claimsAt(
  nowSeconds: number,
  over: Record<string, unknown> = {},
  namespace = 'acme/web',
  key = 'OPENAI_KEY',
): Record<string, unknown> {
  return {
    jti: randomBytes(16).toString('base64url'),
    nonce: randomBytes(16).toString('base64url'),
    sub: namespace,
    key,
    origins: ['https://app.example.com'],
    rps: 1000,
    burst: 1000,
    spend: 1_000_000,
    cost: 1,
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + 600,
    ...over,
  };
}

/** A token over exactly `claims`, correctly signed by `signer` (EdDSA, our typ and kid). */
export async function signClaims(signer: TokenSigner, claims: Record<string, unknown>): Promise<string> {
  const header = { alg: 'EdDSA', typ: TOKEN_TYP, kid: await signer.kid() };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  const signature = await signer.sign(Buffer.from(input));
  return encodeToken(`${input}.${b64u(signature)}`);
}

/** Sign `claims` and write the token's record as the minter would, so the proxy finds it. */
export async function mintHostile(
  signer: TokenSigner,
  store: TokenStore,
  claims: Record<string, unknown>,
): Promise<string> {
  const token = await signClaims(signer, claims);
  // Whatever the claims hold: a hostile minter writes them as they are.
  const c = claims as unknown as TokenClaims;
  await store.putToken({
    id: c.jti,
    digest: tokenDigest(token),
    namespace: c.sub,
    key: c.key,
    origins: Array.isArray(c.origins) ? c.origins : [],
    rps: c.rps,
    burst: c.burst,
    spend: c.spend,
    cost: c.cost,
    iat: c.iat,
    exp: c.exp,
    tags: {},
    actor: 'hostile-minter',
    allowNoOrigin: claims.native === true,
  });
  return token;
}
