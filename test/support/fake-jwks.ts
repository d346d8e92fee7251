/**
 * A loopback OIDC issuer for the API's tests: its discovery document (OIDC Discovery §4) and
 * its JWKS (RFC 7517) on 127.0.0.1, keys made with jose, and a signer for any claims and
 * header, hostile ones included: `alg: none` (RFC 7519 §6), HS256 keyed with the issuer's
 * public key (the classic algorithm confusion), a key the JWKS does not publish. Unlike
 * fake-issuer.ts (the login flows) and fake-oidc.ts (the runner's token endpoint), it speaks
 * only what a resource server reads, and signs whatever a test asks.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';

export interface FakeJwks {
  /** The `iss` it signs with: its own base URL unless given. */
  issuer: string;
  jwksUri: string;
  /** How many times its JWKS was fetched. */
  jwksFetches: () => number;
  /**
   * A token with `claims` over the defaults (`iss`, `sub`, `iat`, `nbf`, `exp` in 5 minutes; a
   * claim set to undefined is left out). `key: 'foreign'` signs with a key it does not
   * publish; `kid` replaces the header's.
   */
  sign(
    claims: Record<string, unknown>,
    options?: { alg?: 'RS256' | 'ES256'; kid?: string; key?: 'foreign' },
  ): Promise<string>;
  /** `alg: none`, no signature. */
  unsigned(claims: Record<string, unknown>): string;
  /** HS256 whose HMAC key is the issuer's RSA public key (SPKI PEM), with its published `kid`. */
  hmacWithPublicKey(claims: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

const b64u = (value: string | Buffer) => Buffer.from(value).toString('base64url');

export async function startFakeJwks(options: { issuer?: string } = {}): Promise<FakeJwks> {
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const ec = await generateKeyPair('ES256', { extractable: true });
  const foreign = await generateKeyPair('RS256');
  const rsaKid = randomUUID();
  const ecKid = randomUUID();
  const keys: JWK[] = [
    { ...(await exportJWK(rsa.publicKey)), kid: rsaKid, alg: 'RS256', use: 'sig' },
    { ...(await exportJWK(ec.publicKey)), kid: ecKid, alg: 'ES256', use: 'sig' },
  ];
  let fetches = 0;
  const server = createServer((req, res) => {
    const json = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/.well-known/jwks.json') {
      fetches++;
      return json(200, { keys });
    }
    if (req.url === '/.well-known/openid-configuration')
      return json(200, {
        issuer,
        jwks_uri: `${base}/.well-known/jwks.json`,
        id_token_signing_alg_values_supported: ['RS256', 'ES256'],
      });
    return json(404, { error: 'not found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const issuer = options.issuer ?? base;

  const body = (claims: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    const payload: Record<string, unknown> = {
      iss: issuer,
      sub: 'user-1',
      iat: now,
      nbf: now,
      exp: now + 300,
      ...claims,
    };
    for (const [key, value] of Object.entries(payload)) if (value === undefined) delete payload[key];
    return payload;
  };

  return {
    issuer,
    jwksUri: `${base}/.well-known/jwks.json`,
    jwksFetches: () => fetches,
    sign: async (claims, { alg = 'RS256', kid, key } = {}) => {
      const privateKey =
        key === 'foreign' ? foreign.privateKey : alg === 'ES256' ? ec.privateKey : rsa.privateKey;
      return new SignJWT(body(claims))
        .setProtectedHeader({ alg, typ: 'JWT', kid: kid ?? (alg === 'ES256' ? ecKid : rsaKid) })
        .sign(privateKey);
    },
    unsigned: (claims) =>
      `${b64u(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64u(JSON.stringify(body(claims)))}.`,
    hmacWithPublicKey: async (claims) => {
      const input = `${b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: rsaKid }))}.${b64u(JSON.stringify(body(claims)))}`;
      const secret = await exportSPKI(rsa.publicKey);
      return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
