/**
 * A loopback OIDC issuer for `egg login`: discovery (OIDC Discovery §4), the device
 * authorization endpoint (RFC 8628 §3.1–3.2), a token endpoint whose device-code answers
 * follow a script (pending, slow_down, approve, deny, expire: RFC 8628 §3.5), an
 * authorization endpoint that answers at once by redirecting (approve, deny, a wrong state,
 * or a code bound to another PKCE challenge) with PKCE checked at the token endpoint
 * (RFC 7636 §4.6), the refresh grant with rotation (RFC 6749 §6), revocation (RFC 7009) and
 * a JWKS for RS256 ID tokens. Every request is checked for the registered client id, as a
 * real issuer would.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';

/** One answer of the token endpoint to a device-code poll. */
export type PollAnswer =
  'authorization_pending' | 'slow_down' | 'approve' | 'access_denied' | 'expired_token';

/**
 * How the authorization endpoint answers: redirect with a code (`approve`), with
 * `error=access_denied`, with a state other than the one asked for, or with a code bound to
 * another PKCE challenge (an attacker's code injected into our redirect, RFC 7636 §1).
 */
export type AuthorizeAnswer = 'approve' | 'access_denied' | 'wrong_state' | 'foreign_challenge';

/** What the client asked the authorization endpoint for (no secret: the URL is public). */
export interface AuthorizationSeen {
  responseType: string | null;
  redirectUri: string | null;
  scope: string | null;
  codeChallengeMethod: string | null;
  codeChallenge: string | null;
  state: string | null;
  nonce: string | null;
}

export interface FakeIssuerOptions {
  clientId?: string;
  subject?: string;
  email?: string;
  /** Device-code polls answered `authorization_pending` before approving (unless scripted). */
  approveAfter?: number;
  /** `interval` of the device authorization answer, in seconds. */
  interval?: number;
  /** `expires_in` of the device code, in seconds. */
  deviceCodeLifetime?: number;
  idTokenLifetime?: number;
  /** Issue a new refresh token on every refresh grant and retire the old one (default true). */
  rotate?: boolean;
  /** Hand out a refresh token on approval (default true). */
  issueRefreshTokens?: boolean;
  /** The clock for `iat`/`exp` (a test's injected clock); `Date.now` by default. */
  now?: () => number;
  /** Advertise a revocation endpoint (default true). */
  revocation?: boolean;
  /** Offer the device grant (default true); false is an issuer like Amazon Cognito. */
  device?: boolean;
  /**
   * Redirect URIs registered exactly (as Cognito wants); by default any
   * `http://127.0.0.1:<port>/callback` is accepted (RFC 8252 §7.3).
   */
  redirectUris?: string[];
}

export interface FakeIssuer {
  issuer: string;
  clientId: string;
  jwksUri: string;
  /** Paths requested, with the grant type for token requests: `/token:refresh_token`. */
  requests: string[];
  /** Answers for the next device-code polls, in order; then `approveAfter` applies. */
  script(answers: PollAnswer[]): void;
  /** Claims that replace (or, when undefined, remove) those of ID tokens minted from now on. */
  setIdTokenClaims(claims: Record<string, unknown>): void;
  /** Sign ID tokens with a key the JWKS does not publish. */
  signWithForeignKey(on: boolean): void;
  /** Refresh tokens that the token endpoint accepts now. */
  liveRefreshTokens: Set<string>;
  /** How the authorization endpoint answers from now on (default `approve`). */
  authorizeWith(answer: AuthorizeAnswer): void;
  /** Answer refresh grants only after `ms` (a slow issuer: concurrent clients' refreshes then overlap). */
  slowRefresh(ms: number): void;
  /** Requests to the authorization endpoint, in order. */
  authorizations: AuthorizationSeen[];
  /** Every token it handed out (ID, refresh, device codes, authorization codes, access) and every PKCE verifier it was shown, for leak checks. */
  issuedSecrets: string[];
  revoked: string[];
  close(): Promise<void>;
}

export async function startFakeIssuer(options: FakeIssuerOptions = {}): Promise<FakeIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const foreign = await generateKeyPair('RS256');
  const kid = randomUUID();
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const clientId = options.clientId ?? 'egg-cli';
  const rotate = options.rotate ?? true;
  const requests: string[] = [];
  const liveRefreshTokens = new Set<string>();
  const issuedSecrets: string[] = [];
  const revoked: string[] = [];
  let scripted: PollAnswer[] = [];
  let overrides: Record<string, unknown> = {};
  let foreignKey = false;
  let authorizeAnswer: AuthorizeAnswer = 'approve';
  let refreshDelayMs = 0;
  const authorizations: AuthorizationSeen[] = [];
  /** device_code → polls so far, and whether it was used up. */
  const devices = new Map<string, { polls: number; done: boolean }>();
  /** authorization code → what it was issued for; deleted when used (single use, RFC 6749 §4.1.2). */
  const codes = new Map<string, { challenge: string; redirectUri: string; nonce: string | null }>();

  const secret = (prefix: string) => {
    const value = `${prefix}-${randomBytes(18).toString('base64url')}`;
    issuedSecrets.push(value);
    return value;
  };

  const idToken = async (nonce?: string) => {
    const now = Math.floor((options.now ?? Date.now)() / 1000);
    const claims: Record<string, unknown> = {
      iss: base,
      sub: options.subject ?? 'user-8a1f',
      aud: clientId,
      email: options.email ?? 'ada@example.com',
      iat: now,
      auth_time: now,
      exp: now + (options.idTokenLifetime ?? 3600),
      ...(nonce === undefined ? {} : { nonce }),
      ...overrides,
    };
    for (const [key, value] of Object.entries(claims)) if (value === undefined) delete claims[key];
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .sign(foreignKey ? foreign.privateKey : privateKey);
    issuedSecrets.push(token);
    return token;
  };

  const tokens = async (withRefresh: boolean, nonce?: string) => ({
    access_token: secret('at'),
    token_type: 'Bearer',
    expires_in: 3600,
    id_token: await idToken(nonce),
    ...(withRefresh ? { refresh_token: refreshToken() } : {}),
  });

  const refreshToken = () => {
    const token = secret('rt');
    liveRefreshTokens.add(token);
    return token;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', base);
    const json = (status: number, body: unknown) =>
      res
        .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(JSON.stringify(body));
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const grant = form.get('grant_type');
    requests.push(grant === null ? url.pathname : `${url.pathname}:${grant}`);

    if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration') {
      const device = options.device ?? true;
      return json(200, {
        issuer: base,
        authorization_endpoint: `${base}/authorize`,
        ...(device ? { device_authorization_endpoint: `${base}/device` } : {}),
        token_endpoint: `${base}/token`,
        jwks_uri: `${base}/jwks`,
        ...(options.revocation === false ? {} : { revocation_endpoint: `${base}/revoke` }),
        response_types_supported: ['code'],
        grant_types_supported: [
          'authorization_code',
          ...(device ? ['urn:ietf:params:oauth:grant-type:device_code'] : []),
          'refresh_token',
        ],
        code_challenge_methods_supported: ['S256'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (req.method === 'GET' && url.pathname === '/jwks') return json(200, { keys: [jwk] });
    if (req.method === 'GET' && url.pathname === '/authorize') return authorize(url, res);
    if (req.method !== 'POST') return json(404, { error: 'not_found' });
    if (form.get('client_id') !== clientId) return json(401, { error: 'invalid_client' });

    if (url.pathname === '/device') {
      const deviceCode = secret('dc');
      devices.set(deviceCode, { polls: 0, done: false });
      return json(200, {
        device_code: deviceCode,
        user_code: 'WDJB-MJHT',
        verification_uri: `${base}/activate`,
        verification_uri_complete: `${base}/activate?user_code=WDJB-MJHT`,
        expires_in: options.deviceCodeLifetime ?? 600,
        interval: options.interval ?? 5,
      });
    }
    if (url.pathname === '/revoke') {
      const token = form.get('token') ?? '';
      if (liveRefreshTokens.delete(token)) revoked.push(token);
      return json(200, {});
    }
    if (url.pathname !== '/token') return json(404, { error: 'not_found' });

    if (grant === 'urn:ietf:params:oauth:grant-type:device_code') {
      const device = devices.get(form.get('device_code') ?? '');
      if (device === undefined || device.done) return json(400, { error: 'invalid_grant' });
      device.polls += 1;
      const answer: PollAnswer =
        scripted.shift() ??
        (device.polls > (options.approveAfter ?? 1) ? 'approve' : 'authorization_pending');
      if (answer !== 'approve') {
        if (answer === 'access_denied' || answer === 'expired_token') device.done = true;
        return json(400, { error: answer });
      }
      device.done = true;
      return json(200, await tokens(options.issueRefreshTokens ?? true));
    }
    if (grant === 'authorization_code') {
      const code = form.get('code') ?? '';
      const verifier = form.get('code_verifier') ?? '';
      if (verifier !== '') issuedSecrets.push(verifier);
      const issued = codes.get(code);
      codes.delete(code);
      if (issued === undefined)
        return json(400, { error: 'invalid_grant', error_description: 'unknown or used code' });
      if (form.get('redirect_uri') !== issued.redirectUri)
        return json(400, { error: 'invalid_grant', error_description: 'redirect_uri mismatch' });
      // RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) must equal the code_challenge.
      if (createHash('sha256').update(verifier, 'ascii').digest('base64url') !== issued.challenge)
        return json(400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
      return json(200, await tokens(options.issueRefreshTokens ?? true, issued.nonce ?? undefined));
    }
    if (grant === 'refresh_token') {
      const presented = form.get('refresh_token') ?? '';
      if (!liveRefreshTokens.has(presented)) {
        return json(400, {
          error: 'invalid_grant',
          error_description: 'refresh token is invalid or revoked',
        });
      }
      if (rotate) liveRefreshTokens.delete(presented);
      if (refreshDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, refreshDelayMs));
      const body = await tokens(rotate);
      return json(200, body);
    }
    return json(400, { error: 'unsupported_grant_type' });
  };

  /** RFC 6749 §4.1.1–4.1.2: check the request, then redirect at once as `authorizeAnswer` says. */
  const authorize = (url: URL, res: ServerResponse) => {
    const q = url.searchParams;
    const seen: AuthorizationSeen = {
      responseType: q.get('response_type'),
      redirectUri: q.get('redirect_uri'),
      scope: q.get('scope'),
      codeChallengeMethod: q.get('code_challenge_method'),
      codeChallenge: q.get('code_challenge'),
      state: q.get('state'),
      nonce: q.get('nonce'),
    };
    authorizations.push(seen);
    const page = (status: number, text: string) =>
      res.writeHead(status, { 'content-type': 'text/plain' }).end(text);
    // §4.1.2.1: with a bad client or redirect URI, tell the user and do not redirect.
    if (q.get('client_id') !== clientId) return page(400, 'unknown client');
    const redirectUri = seen.redirectUri ?? '';
    const loopback = /^http:\/\/127\.0\.0\.1:\d{1,5}\/callback$/.test(redirectUri);
    if (options.redirectUris === undefined ? !loopback : !options.redirectUris.includes(redirectUri))
      return page(400, 'redirect_uri is not registered');
    const back = new URL(redirectUri);
    back.searchParams.set('state', authorizeAnswer === 'wrong_state' ? randomUUID() : (seen.state ?? ''));
    if (seen.responseType !== 'code' || seen.codeChallengeMethod !== 'S256' || !seen.codeChallenge)
      back.searchParams.set('error', 'invalid_request');
    else if (authorizeAnswer === 'access_denied') back.searchParams.set('error', 'access_denied');
    else {
      const code = secret('ac');
      const challenge =
        authorizeAnswer === 'foreign_challenge'
          ? createHash('sha256').update(randomUUID()).digest('base64url')
          : seen.codeChallenge;
      codes.set(code, { challenge, redirectUri, nonce: seen.nonce });
      back.searchParams.set('code', code);
    }
    return res.writeHead(302, { location: back.toString(), 'cache-control': 'no-store' }).end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer: base,
    clientId,
    jwksUri: `${base}/jwks`,
    requests,
    script: (answers) => {
      scripted = [...scripted, ...answers];
    },
    setIdTokenClaims: (claims) => {
      overrides = claims;
    },
    signWithForeignKey: (on) => {
      foreignKey = on;
    },
    authorizeWith: (answer) => {
      authorizeAnswer = answer;
    },
    slowRefresh: (ms) => {
      refreshDelayMs = ms;
    },
    authorizations,
    liveRefreshTokens,
    issuedSecrets,
    revoked,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
