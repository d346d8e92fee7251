/**
 * The OAuth 2.0 side of `egg login`, over `fetch` with form-encoded POSTs: OIDC discovery
 * (OpenID Connect Discovery 1.0 §4), the device authorization grant (RFC 8628), the
 * authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636), the refresh-token grant
 * (RFC 6749 §6) and token revocation (RFC 7009). Tokens, codes and verifiers go only into
 * request bodies and return values, never into a message or a log line.
 */
import { EggError } from '../errors.js';
import type { Logger } from '../log.js';
import { sameToken } from './pkce.js';
import { assertIssuerUrl } from './settings.js';

export interface IssuerMetadata {
  issuer: string;
  /** RFC 8628; absent at issuers without the device grant (Amazon Cognito user pools). */
  deviceAuthorizationEndpoint?: string;
  /** RFC 6749 §3.1; absent at issuers that only do the device grant. */
  authorizationEndpoint?: string;
  /** RFC 8414 `code_challenge_methods_supported`, when the document lists it. */
  codeChallengeMethods?: string[];
  tokenEndpoint: string;
  /** RFC 7009; absent when the issuer does not advertise one. */
  revocationEndpoint?: string;
  jwksUri: string;
}

export interface OAuthClient {
  clientId: string;
  clientSecret?: string;
  scopes: string;
}

export interface HttpOptions {
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** RFC 8628 §3.2: what the user is shown, and what the client polls with. */
export interface DeviceAuthorization {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  /** Seconds the device code lives. */
  expiresIn: number;
  /** Seconds between polls (RFC 8628 §3.2: 5 when absent). */
  interval: number;
}

/** A token response (RFC 6749 §5.1 with OIDC Core §3.1.3.3's `id_token`). */
export interface TokenSet {
  idToken?: string;
  refreshToken?: string;
}

export interface PollOptions extends HttpOptions {
  sleep: (ms: number) => Promise<void>;
  now: () => Date;
  logger?: Logger;
}

/** RFC 8628 §3.5: "the interval MUST be increased by 5 seconds for this and all subsequent requests". */
export const SLOW_DOWN_SECONDS = 5;
/** RFC 8628 §3.5 asks for exponential backoff on a connection timeout; this caps it. */
const MAX_INTERVAL_SECONDS = 60;

/** Fetch and check the issuer's discovery document. */
export async function discover(issuer: string, http: HttpOptions = {}): Promise<IssuerMetadata> {
  const url = `${issuer}/.well-known/openid-configuration`;
  const { status, body } = await request(url, { method: 'GET' }, http, 'discovery');
  if (status !== 200) {
    throw new EggError('ERR_OIDC', `the OIDC discovery document at ${url} answered HTTP ${status}`, {
      hint: 'check --issuer (EGG_OIDC_ISSUER)',
    });
  }
  // OIDC Discovery §4.3: the issuer in the document MUST be identical to the one asked for.
  if (body.issuer !== issuer && body.issuer !== `${issuer}/`) {
    throw new EggError(
      'ERR_OIDC',
      `the discovery document at ${url} names another issuer (${printable(body.issuer)})`,
      { hint: 'set --issuer to the exact issuer URL' },
    );
  }
  const endpoint = (name: string, required: boolean): string | undefined => {
    const value = body[name];
    if (value === undefined && !required) return undefined;
    if (typeof value !== 'string') {
      throw new EggError('ERR_OIDC', `cannot log in with ${issuer}: its discovery document has no ${name}`, {
        hint: 'check --issuer (EGG_OIDC_ISSUER)',
      });
    }
    assertEndpoint(value, name);
    return value;
  };
  const device = endpoint('device_authorization_endpoint', false);
  const authorization = endpoint('authorization_endpoint', false);
  const revocation = endpoint('revocation_endpoint', false);
  const methods = body.code_challenge_methods_supported;
  return {
    issuer,
    ...(device === undefined ? {} : { deviceAuthorizationEndpoint: device }),
    ...(authorization === undefined ? {} : { authorizationEndpoint: authorization }),
    ...(Array.isArray(methods) ? { codeChallengeMethods: methods.filter((m) => typeof m === 'string') } : {}),
    tokenEndpoint: endpoint('token_endpoint', true) as string,
    jwksUri: endpoint('jwks_uri', true) as string,
    ...(revocation === undefined ? {} : { revocationEndpoint: revocation }),
  };
}

/** RFC 8628 §3.1: ask for a device code and the code the user types. */
export async function requestDeviceAuthorization(
  metadata: IssuerMetadata,
  client: OAuthClient,
  http: HttpOptions = {},
): Promise<DeviceAuthorization> {
  if (metadata.deviceAuthorizationEndpoint === undefined)
    throw new TypeError('requestDeviceAuthorization needs an issuer with a device_authorization_endpoint');
  const { status, body } = await postForm(
    metadata.deviceAuthorizationEndpoint,
    { ...clientParams(client), scope: client.scopes },
    http,
    'device authorization',
  );
  if (status !== 200) throw oauthError('the issuer refused the device authorization request', status, body);
  const { device_code, user_code, expires_in, interval } = body;
  // Google still answers with the draft's `verification_url`.
  const verificationUri = body.verification_uri ?? body.verification_url;
  if (
    typeof device_code !== 'string' ||
    typeof user_code !== 'string' ||
    typeof verificationUri !== 'string' ||
    typeof expires_in !== 'number'
  ) {
    throw new EggError('ERR_OIDC', 'the issuer’s device authorization answer lacks a required field');
  }
  assertEndpoint(verificationUri, 'verification_uri');
  const complete = body.verification_uri_complete;
  return {
    deviceCode: device_code,
    userCode: user_code,
    verificationUri,
    ...(typeof complete === 'string' ? { verificationUriComplete: complete } : {}),
    expiresIn: expires_in,
    interval: typeof interval === 'number' && interval > 0 ? interval : 5,
  };
}

/**
 * RFC 8628 §3.4–3.5: poll the token endpoint until the user approves, honouring `interval`,
 * `slow_down` (+5 s from then on), `authorization_pending`, `access_denied` and
 * `expired_token`, and giving up when the device code's lifetime has passed.
 */
export async function pollForTokens(
  metadata: IssuerMetadata,
  client: OAuthClient,
  authorization: DeviceAuthorization,
  options: PollOptions,
): Promise<TokenSet> {
  const deadline = options.now().getTime() + authorization.expiresIn * 1000;
  let interval = authorization.interval;
  for (;;) {
    await options.sleep(interval * 1000);
    if (options.now().getTime() >= deadline) throw deviceCodeExpired();
    let answer: { status: number; body: Record<string, unknown> };
    try {
      answer = await postForm(
        metadata.tokenEndpoint,
        {
          ...clientParams(client),
          grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
          device_code: authorization.deviceCode,
        },
        options,
        'token',
      );
    } catch (error) {
      if (!(error instanceof EggError && error.cause !== undefined && isNetworkError(error.cause)))
        throw error;
      interval = Math.min(interval * 2, MAX_INTERVAL_SECONDS);
      options.logger?.debug('login.poll.backoff', { intervalSeconds: interval });
      continue;
    }
    const { status, body } = answer;
    if (status === 200) return tokenSet(body);
    switch (body.error) {
      case 'authorization_pending':
        continue;
      case 'slow_down':
        interval += SLOW_DOWN_SECONDS;
        options.logger?.debug('login.poll.slow_down', { intervalSeconds: interval });
        continue;
      case 'access_denied':
        throw new EggError('ERR_ACCESS_DENIED', 'the login was denied at the issuer', {
          hint: 'run `egg login` again and approve the request',
        });
      case 'expired_token':
        throw deviceCodeExpired();
      default:
        throw oauthError('the issuer refused to issue tokens', status, body);
    }
  }
}

function deviceCodeExpired(): EggError {
  return new EggError('ERR_LOGIN_REQUIRED', 'the login code expired before it was approved', {
    hint: 'run `egg login` again and approve it sooner',
  });
}

/** What ties an authorization request to its answer; the PKCE verifier is not here, it never leaves this process until the token request. */
export interface AuthorizationRequest {
  redirectUri: string;
  state: string;
  nonce: string;
  codeChallenge: string;
}

/**
 * RFC 6749 §4.1.1 with PKCE (RFC 7636 §4.3, S256 only) and the OIDC `nonce` (OIDC Core
 * §3.1.2.1): the URL the user's browser opens. It holds no secret: the state and nonce only
 * bind the answer to this request, and the challenge is a hash of the verifier.
 */
export function authorizationUrl(
  metadata: IssuerMetadata,
  client: OAuthClient,
  request: AuthorizationRequest,
): string {
  if (metadata.authorizationEndpoint === undefined)
    throw new TypeError('authorizationUrl needs an issuer with an authorization_endpoint');
  const url = new URL(metadata.authorizationEndpoint);
  const params = {
    response_type: 'code',
    client_id: client.clientId,
    redirect_uri: request.redirectUri,
    scope: client.scopes,
    state: request.state,
    nonce: request.nonce,
    code_challenge: request.codeChallenge,
    code_challenge_method: 'S256',
  };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}

/**
 * RFC 6749 §4.1.2: check what the browser brought back to the redirect URI and return the
 * code. The state must equal ours exactly (§10.12, CSRF); an `iss` parameter, when the
 * issuer sends one, must name it (RFC 9207, mix-up attacks); a parameter given twice is
 * refused (§3.1). Error answers are reported only after the state matched, so a forged
 * redirect cannot put words in our mouth.
 */
export function parseAuthorizationResponse(
  params: URLSearchParams,
  expected: { state: string; issuer: string },
): string {
  for (const name of ['state', 'code', 'error', 'iss'])
    if (params.getAll(name).length > 1)
      throw new EggError('ERR_OIDC', `the sign-in response carries "${name}" more than once; refused`, {
        hint: 'run `egg login` again',
      });
  const state = params.get('state');
  if (state === null || !sameToken(state, expected.state)) {
    throw new EggError(
      'ERR_OIDC',
      'the sign-in response’s state does not match this login’s request (a forged or stale response); nothing was stored',
      { hint: 'run `egg login` again, and finish only the sign-in it opens' },
    );
  }
  const iss = params.get('iss');
  if (iss !== null && iss !== expected.issuer && iss !== `${expected.issuer}/`) {
    throw new EggError(
      'ERR_OIDC',
      `the sign-in response comes from another issuer (${printable(iss)}, not ${expected.issuer}); refused`,
      { hint: 'run `egg login` again' },
    );
  }
  const error = params.get('error');
  if (error !== null) {
    if (error === 'access_denied') {
      throw new EggError('ERR_ACCESS_DENIED', 'the login was denied at the issuer', {
        hint: 'run `egg login` again and approve the request',
      });
    }
    const description = params.get('error_description');
    throw oauthError(
      'the issuer refused the authorization request',
      0,
      { error, ...(description === null ? {} : { error_description: description }) },
      'check --client-id, --scopes and that the issuer allows the redirect URI',
    );
  }
  const code = params.get('code');
  if (code === null || code === '')
    throw new EggError('ERR_OIDC', 'the sign-in response has no authorization code', {
      hint: 'run `egg login` again',
    });
  return code;
}

/** RFC 6749 §4.1.3 with RFC 7636 §4.5: trade the code and the PKCE verifier for tokens. */
export async function exchangeCode(
  metadata: IssuerMetadata,
  client: OAuthClient,
  grant: { code: string; redirectUri: string; codeVerifier: string },
  http: HttpOptions = {},
): Promise<TokenSet> {
  const { status, body } = await postForm(
    metadata.tokenEndpoint,
    {
      ...clientParams(client),
      grant_type: 'authorization_code',
      code: grant.code,
      redirect_uri: grant.redirectUri,
      code_verifier: grant.codeVerifier,
    },
    http,
    'token',
  );
  if (status === 200) return tokenSet(body);
  throw oauthError('the issuer refused the authorization code', status, body, 'run `egg login` again');
}

/** RFC 6749 §6: a fresh token set from a refresh token; a refused grant means logging in again. */
export async function refreshTokens(
  metadata: IssuerMetadata,
  client: OAuthClient,
  refreshToken: string,
  http: HttpOptions = {},
): Promise<TokenSet> {
  const { status, body } = await postForm(
    metadata.tokenEndpoint,
    { ...clientParams(client), grant_type: 'refresh_token', refresh_token: refreshToken },
    http,
    'token',
  );
  if (status === 200) return tokenSet(body);
  if (body.error === 'invalid_grant') {
    throw new EggError('ERR_LOGIN_REQUIRED', 'your login has expired or was revoked at the issuer', {
      hint: 'run `egg login` again',
    });
  }
  throw oauthError('the issuer refused to refresh the login', status, body, 'run `egg login` again');
}

/** RFC 7009 §2: revoke a refresh token; `false` when the issuer offers no revocation endpoint. */
export async function revokeToken(
  metadata: IssuerMetadata,
  client: OAuthClient,
  token: string,
  http: HttpOptions = {},
): Promise<boolean> {
  if (metadata.revocationEndpoint === undefined) return false;
  const { status, body } = await postForm(
    metadata.revocationEndpoint,
    { ...clientParams(client), token, token_type_hint: 'refresh_token' },
    http,
    'revocation',
  );
  // RFC 7009 §2.2: 200 also for a token that was already invalid.
  if (status !== 200) throw oauthError('the issuer refused to revoke the refresh token', status, body);
  return true;
}

function clientParams(client: OAuthClient): Record<string, string> {
  return {
    client_id: client.clientId,
    ...(client.clientSecret === undefined ? {} : { client_secret: client.clientSecret }),
  };
}

function tokenSet(body: Record<string, unknown>): TokenSet {
  const set: TokenSet = {};
  if (typeof body.id_token === 'string') set.idToken = body.id_token;
  if (typeof body.refresh_token === 'string') set.refreshToken = body.refresh_token;
  return set;
}

function postForm(
  url: string,
  params: Record<string, string>,
  http: HttpOptions,
  what: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  return request(
    url,
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params).toString(),
    },
    http,
    what,
  );
}

async function request(
  url: string,
  init: RequestInit,
  http: HttpOptions,
  what: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const doFetch = http.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(url, {
      ...init,
      headers: { accept: 'application/json', ...(init.headers as Record<string, string> | undefined) },
      redirect: 'error',
      signal: AbortSignal.timeout(http.timeoutMs ?? 15_000),
    });
  } catch (error) {
    throw new EggError('ERR_OIDC', `could not reach the issuer’s ${what} endpoint ${new URL(url).origin}`, {
      cause: error,
      hint: 'check the network and the issuer URL',
    });
  }
  const text = await response.text();
  let body: unknown = {};
  if (text !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      body = {};
    }
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) body = {};
  return { status: response.status, body: body as Record<string, unknown> };
}

/** An OAuth error response (RFC 6749 §5.2) as one sentence: the code and a cleaned description. */
function oauthError(what: string, status: number, body: Record<string, unknown>, hint?: string): EggError {
  const code = typeof body.error === 'string' ? printable(body.error) : `HTTP ${status}`;
  const description =
    typeof body.error_description === 'string' ? `: ${printable(body.error_description)}` : '';
  return new EggError('ERR_OIDC', `${what}: ${code}${description}`, hint === undefined ? {} : { hint });
}

function assertEndpoint(value: string, name: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new EggError('ERR_OIDC', `the issuer’s ${name} "${printable(value)}" is not a URL`);
  }
  assertIssuerUrl(url.origin, `the issuer’s ${name}`);
}

/** Text from the issuer for our messages: one printable line, bounded. */
function printable(value: unknown): string {
  const line = String(value)
    .replace(/[^\x20-\x7e]+/g, ' ')
    .trim();
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return true;
  return error instanceof TypeError && error.message === 'fetch failed';
}
