/**
 * The OAuth 2.0 and OpenID Connect side of `egg login`, through `oauth4webapi` (panva's
 * OpenID-certified core of openid-client): discovery (OIDC Discovery 1.0 §4), the device
 * authorization grant (RFC 8628), the authorization code grant with PKCE (RFC 6749 §4.1,
 * RFC 7636), the refresh-token grant (RFC 6749 §6), revocation (RFC 7009) and every check
 * on an ID token (OIDC Core §3.1.3.7: signature against the issuer's JWKS, `iss`, `aud`,
 * `azp`, `exp`, `iat`, `nonce`). What stays here is what the library leaves to its caller:
 * which grant to use, when to poll (with an injected clock and sleep), our error messages,
 * and the checks listed where they are made. Tokens, codes and verifiers go only into
 * request bodies and return values, never into a message or a log line.
 */
import * as oauth from 'oauth4webapi';
import { EggError } from '../errors.js';
import type { Logger } from '../log.js';
import { type Identity, idTokenRefusal, keysUnavailable } from './id-token.js';
import { assertIssuerUrl } from './settings.js';

/** An issuer as discovered, with this client's registration: what every grant needs. */
export interface OidcClient {
  server: oauth.AuthorizationServer;
  client: oauth.Client;
  auth: oauth.ClientAuth;
  http: HttpOptions;
}

export interface HttpOptions {
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export interface ClientSettings {
  issuer: string;
  clientId: string;
  /** Sent as `client_secret` in the body when set (Google's device clients need one). */
  clientSecret?: string;
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

/** A token response whose ID token (when there is one) passed every check. */
export interface TokenSet {
  idToken?: string;
  refreshToken?: string;
  identity?: Identity;
}

export interface PollOptions {
  sleep: (ms: number) => Promise<void>;
  now: () => Date;
  logger?: Logger;
}

/** RFC 8628 §3.5: "the interval MUST be increased by 5 seconds for this and all subsequent requests". */
export const SLOW_DOWN_SECONDS = 5;
/** RFC 8628 §3.5 asks for exponential backoff on a connection timeout; this caps it. */
const MAX_INTERVAL_SECONDS = 60;

/**
 * Fetch and check the issuer's discovery document (its `issuer` must be the one asked for,
 * §4.3), and set up the client. `now` is this process's idea of the time: the library
 * checks `exp` against it (with 30 seconds' tolerance, as before).
 */
export async function discover(
  settings: ClientSettings,
  http: HttpOptions = {},
  now: () => Date = () => new Date(),
): Promise<OidcClient> {
  const issuer = new URL(settings.issuer);
  const url = `${settings.issuer}/.well-known/openid-configuration`;
  let server: oauth.AuthorizationServer;
  try {
    const response = await oauth.discoveryRequest(issuer, requestOptions(http, issuer));
    server = await oauth.processDiscoveryResponse(issuer, response);
  } catch (error) {
    if (isNetworkError(error)) throw unreachable('discovery', url, error);
    if (error instanceof oauth.OperationProcessingError && error.code === oauth.JSON_ATTRIBUTE_COMPARISON) {
      const named = (error.cause as { body?: { issuer?: unknown } } | undefined)?.body?.issuer;
      throw new EggError(
        'ERR_OIDC',
        `the discovery document at ${url} names another issuer (${printable(named)})`,
        { hint: 'set --issuer to the exact issuer URL' },
      );
    }
    const status = error instanceof oauth.OperationProcessingError ? responseStatus(error) : undefined;
    throw new EggError(
      'ERR_OIDC',
      status === undefined
        ? `the OIDC discovery document at ${url} is not usable: ${printable((error as Error).message)}`
        : `the OIDC discovery document at ${url} answered HTTP ${status}`,
      { hint: 'check --issuer (EGG_OIDC_ISSUER)' },
    );
  }
  for (const name of ['token_endpoint', 'jwks_uri'] as const) {
    if (typeof server[name] !== 'string') {
      throw new EggError(
        'ERR_OIDC',
        `cannot log in with ${settings.issuer}: its discovery document has no ${name}`,
        { hint: 'check --issuer (EGG_OIDC_ISSUER)' },
      );
    }
  }
  // https everywhere, plain http only on loopback (the library enforces https unless told
  // otherwise, and we tell it otherwise only for a loopback issuer).
  for (const name of ENDPOINTS) {
    const value = server[name];
    if (value !== undefined) assertEndpoint(value, name);
  }
  const client: oauth.Client = {
    client_id: settings.clientId,
    // The library's clock is Date.now(); this process's may be injected (tests) or off.
    [oauth.clockSkew]: Math.round((now().getTime() - Date.now()) / 1000),
  };
  const auth =
    settings.clientSecret === undefined ? oauth.None() : oauth.ClientSecretPost(settings.clientSecret);
  return { server, client, auth, http };
}

const ENDPOINTS = [
  'token_endpoint',
  'jwks_uri',
  'device_authorization_endpoint',
  'authorization_endpoint',
  'revocation_endpoint',
] as const;

/** RFC 8628 §3.1: ask for a device code and the code the user types. */
export async function requestDeviceAuthorization(
  oidc: OidcClient,
  scopes: string,
): Promise<DeviceAuthorization> {
  const { server, client, auth, http } = oidc;
  const endpoint = server.device_authorization_endpoint;
  if (endpoint === undefined)
    throw new TypeError('requestDeviceAuthorization needs an issuer with a device_authorization_endpoint');
  let answer: oauth.DeviceAuthorizationResponse;
  try {
    const response = await oauth.deviceAuthorizationRequest(
      server,
      client,
      auth,
      { scope: scopes },
      requestOptions({ ...http, fetch: draftVerificationUrl(http.fetch ?? fetch) }, server),
    );
    answer = await oauth.processDeviceAuthorizationResponse(server, client, response);
  } catch (error) {
    if (isNetworkError(error)) throw unreachable('device authorization', endpoint, error);
    if (error instanceof oauth.ResponseBodyError)
      throw oauthError('the issuer refused the device authorization request', error);
    throw new EggError(
      'ERR_OIDC',
      `the issuer’s device authorization answer was not usable: ${printable(reason(error))}`,
    );
  }
  // The user is sent there: it must be a web page of the same standing as the issuer.
  assertEndpoint(answer.verification_uri, 'verification_uri');
  return {
    deviceCode: answer.device_code,
    userCode: answer.user_code,
    verificationUri: answer.verification_uri,
    ...(answer.verification_uri_complete === undefined
      ? {}
      : { verificationUriComplete: answer.verification_uri_complete }),
    expiresIn: answer.expires_in,
    interval: answer.interval !== undefined && answer.interval > 0 ? answer.interval : 5,
  };
}

/**
 * Google still answers the device authorization request with the draft's
 * `verification_url`; give the library the RFC's name for it.
 */
function draftVerificationUrl(doFetch: typeof fetch): typeof fetch {
  return async (input, init) => {
    const response = await doFetch(input, init);
    if (response.status !== 200) return response;
    const body = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    const renamed =
      body !== undefined && body.verification_uri === undefined && typeof body.verification_url === 'string'
        ? { ...body, verification_uri: body.verification_url }
        : body;
    return new Response(JSON.stringify(renamed ?? null), { status: 200, headers: response.headers });
  };
}

/**
 * RFC 8628 §3.4–3.5: poll the token endpoint until the user approves, honouring `interval`,
 * `slow_down` (+5 s from then on), `authorization_pending`, `access_denied` and
 * `expired_token`, backing off on network errors, and giving up when the device code's
 * lifetime has passed. The library makes and judges each request; this loop owns only the
 * waiting, so the clock and the sleep can be injected (openid-client's own poller waits on
 * real timers and does not back off on network errors).
 */
export async function pollForTokens(
  oidc: OidcClient,
  authorization: DeviceAuthorization,
  options: PollOptions,
): Promise<TokenSet> {
  const { server, client, auth, http } = oidc;
  const deadline = options.now().getTime() + authorization.expiresIn * 1000;
  let interval = authorization.interval;
  for (;;) {
    await options.sleep(interval * 1000);
    if (options.now().getTime() >= deadline) throw deviceCodeExpired();
    let response: Response;
    try {
      response = await oauth.deviceCodeGrantRequest(
        server,
        client,
        auth,
        authorization.deviceCode,
        requestOptions(http, server),
      );
    } catch (error) {
      if (!isNetworkError(error)) throw error;
      interval = Math.min(interval * 2, MAX_INTERVAL_SECONDS);
      options.logger?.debug('login.poll.backoff', { intervalSeconds: interval });
      continue;
    }
    try {
      return await tokenSet(oidc, response, oauth.processDeviceCodeResponse(server, client, response));
    } catch (error) {
      if (!(error instanceof oauth.ResponseBodyError)) throw error;
      switch (error.error) {
        case 'authorization_pending':
          continue;
        case 'slow_down':
          interval += SLOW_DOWN_SECONDS;
          options.logger?.debug('login.poll.slow_down', { intervalSeconds: interval });
          continue;
        case 'access_denied':
          throw loginDenied();
        case 'expired_token':
          throw deviceCodeExpired();
        default:
          throw oauthError('the issuer refused to issue tokens', error);
      }
    }
  }
}

function deviceCodeExpired(): EggError {
  return new EggError('ERR_LOGIN_REQUIRED', 'the login code expired before it was approved', {
    hint: 'run `egg login` again and approve it sooner',
  });
}

function loginDenied(): EggError {
  return new EggError('ERR_ACCESS_DENIED', 'the login was denied at the issuer', {
    hint: 'run `egg login` again and approve the request',
  });
}

/** The one-time values of a browser login, from the library's CSPRNG (32 bytes each). */
export interface AuthorizationRequest {
  redirectUri: string;
  state: string;
  nonce: string;
  /** Stays in this process until the token request; only its S256 hash is sent before. */
  codeVerifier: string;
}

/** A fresh state, nonce and PKCE verifier (RFC 7636 §4.1; 43 base64url characters each). */
export function newAuthorizationRequest(): Omit<AuthorizationRequest, 'redirectUri'> {
  return {
    state: oauth.generateRandomState(),
    nonce: oauth.generateRandomNonce(),
    codeVerifier: oauth.generateRandomCodeVerifier(),
  };
}

/**
 * RFC 6749 §4.1.1 with PKCE (RFC 7636 §4.3, S256 only) and the OIDC `nonce` (OIDC Core
 * §3.1.2.1): the URL the user's browser opens. It holds no secret: the state and nonce only
 * bind the answer to this request, and the challenge is a hash of the verifier.
 */
export async function authorizationUrl(
  oidc: OidcClient,
  scopes: string,
  request: AuthorizationRequest,
): Promise<string> {
  const endpoint = oidc.server.authorization_endpoint;
  if (endpoint === undefined)
    throw new TypeError('authorizationUrl needs an issuer with an authorization_endpoint');
  const url = new URL(endpoint);
  const params = {
    response_type: 'code',
    client_id: oidc.client.client_id,
    redirect_uri: request.redirectUri,
    scope: scopes,
    state: request.state,
    nonce: request.nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(request.codeVerifier),
    code_challenge_method: 'S256',
  };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}

/**
 * RFC 6749 §4.1.2: check what the browser brought back to the redirect URI. The library
 * refuses a state other than ours (§10.12, CSRF), an `iss` naming another issuer (RFC 9207,
 * mix-up attacks) and a parameter given twice, and reports an error answer only after the
 * state matched, so a forged redirect cannot put words in our mouth. Returns the checked
 * parameters, for `exchangeCode`.
 */
export function parseAuthorizationResponse(
  params: URLSearchParams,
  expected: { state: string; server: oauth.AuthorizationServer; clientId: string },
): URLSearchParams {
  const again = { hint: 'run `egg login` again' };
  // The library reads `code` only when it sends it; refuse a second one here, with the rest.
  if (params.getAll('code').length > 1)
    throw new EggError('ERR_OIDC', 'the sign-in response carries "code" more than once; refused', again);
  let checked: URLSearchParams;
  try {
    checked = oauth.validateAuthResponse(
      expected.server,
      { client_id: expected.clientId },
      params,
      expected.state,
    );
  } catch (error) {
    if (error instanceof oauth.AuthorizationResponseError) {
      if (error.error === 'access_denied') throw loginDenied();
      throw oauthError(
        'the issuer refused the authorization request',
        error,
        'check --client-id, --scopes and that the issuer allows the redirect URI',
      );
    }
    const message = error instanceof Error ? error.message : '';
    const twice = /^"(\w+)" parameter must be provided only once/.exec(message);
    if (twice !== null)
      throw new EggError(
        'ERR_OIDC',
        `the sign-in response carries "${twice[1]}" more than once; refused`,
        again,
      );
    if (/"state"/.test(message)) {
      throw new EggError(
        'ERR_OIDC',
        'the sign-in response’s state does not match this login’s request (a forged or stale response); nothing was stored',
        { hint: 'run `egg login` again, and finish only the sign-in it opens' },
      );
    }
    if (/"iss"/.test(message)) {
      throw new EggError(
        'ERR_OIDC',
        `the sign-in response comes from another issuer (${printable(params.get('iss'))}, not ${expected.server.issuer}); refused`,
        again,
      );
    }
    throw new EggError('ERR_OIDC', `the sign-in response was refused: ${printable(message)}`, again);
  }
  if (!checked.get('code'))
    throw new EggError('ERR_OIDC', 'the sign-in response has no authorization code', again);
  return checked;
}

/**
 * RFC 6749 §4.1.3 with RFC 7636 §4.5: trade the code and the PKCE verifier for tokens; the
 * ID token must carry the request's nonce (OIDC Core §3.1.3.7 (11)).
 */
export async function exchangeCode(
  oidc: OidcClient,
  callback: URLSearchParams,
  request: AuthorizationRequest,
): Promise<TokenSet> {
  const { server, client, auth, http } = oidc;
  let response: Response;
  try {
    response = await oauth.authorizationCodeGrantRequest(
      server,
      client,
      auth,
      callback,
      request.redirectUri,
      request.codeVerifier,
      requestOptions(http, server),
    );
  } catch (error) {
    throw isNetworkError(error) ? unreachable('token', server.token_endpoint ?? server.issuer, error) : error;
  }
  const processed = oauth.processAuthorizationCodeResponse(server, client, response, {
    expectedNonce: request.nonce,
    requireIdToken: true,
  });
  try {
    return await tokenSet(oidc, response, processed);
  } catch (error) {
    if (error instanceof oauth.ResponseBodyError)
      throw oauthError('the issuer refused the authorization code', error, 'run `egg login` again');
    throw error;
  }
}

/** RFC 6749 §6: a fresh token set from a refresh token; a refused grant means logging in again. */
export async function refreshTokens(oidc: OidcClient, refreshToken: string): Promise<TokenSet> {
  const { server, client, auth, http } = oidc;
  let response: Response;
  try {
    response = await oauth.refreshTokenGrantRequest(
      server,
      client,
      auth,
      refreshToken,
      requestOptions(http, server),
    );
  } catch (error) {
    throw isNetworkError(error) ? unreachable('token', server.token_endpoint ?? server.issuer, error) : error;
  }
  try {
    return await tokenSet(oidc, response, oauth.processRefreshTokenResponse(server, client, response));
  } catch (error) {
    if (!(error instanceof oauth.ResponseBodyError)) throw error;
    if (error.error === 'invalid_grant') {
      throw new EggError('ERR_LOGIN_REQUIRED', 'your login has expired or was revoked at the issuer', {
        hint: 'run `egg login` again',
      });
    }
    throw oauthError('the issuer refused to refresh the login', error, 'run `egg login` again');
  }
}

/** RFC 7009 §2: revoke a refresh token; `false` when the issuer offers no revocation endpoint. */
export async function revokeToken(oidc: OidcClient, token: string): Promise<boolean> {
  const { server, client, auth, http } = oidc;
  if (server.revocation_endpoint === undefined) return false;
  try {
    const response = await oauth.revocationRequest(server, client, auth, token, {
      ...requestOptions(http, server),
      additionalParameters: { token_type_hint: 'refresh_token' },
    });
    // RFC 7009 §2.2: 200 also for a token that was already invalid.
    await oauth.processRevocationResponse(response);
  } catch (error) {
    if (isNetworkError(error)) throw unreachable('revocation', server.revocation_endpoint, error);
    if (error instanceof oauth.ResponseBodyError)
      throw oauthError('the issuer refused to revoke the refresh token', error);
    throw new EggError(
      'ERR_OIDC',
      `the issuer refused to revoke the refresh token: ${printable(reason(error))}`,
    );
  }
  return true;
}

/**
 * The tokens of a processed token response. The library has checked the ID token's claims
 * (`iss`, `aud`, `azp`, `exp`, `iat`, `sub`, and `nonce` when one was expected) while
 * processing; here its signature is checked against the issuer's JWKS (asymmetric
 * algorithms only: the library refuses `none` and HMAC), which the library leaves optional
 * because the token came over TLS from the token endpoint. We check it anyway: STS will, and
 * a forged or misdirected token is better refused here with a clear message.
 */
async function tokenSet(
  oidc: OidcClient,
  response: Response,
  processed: Promise<oauth.TokenEndpointResponse>,
): Promise<TokenSet> {
  const context = { issuer: oidc.server.issuer, clientId: oidc.client.client_id };
  let body: oauth.TokenEndpointResponse;
  try {
    body = await processed;
  } catch (error) {
    if (error instanceof oauth.ResponseBodyError) throw error;
    throw (
      idTokenRefusal(error, context) ??
      new EggError('ERR_OIDC', `the issuer’s token answer was not usable: ${printable(reason(error))}`, {
        hint: 'run `egg login` again',
      })
    );
  }
  if (body.id_token !== undefined) {
    try {
      await oauth.validateApplicationLevelSignature(
        oidc.server,
        response,
        requestOptions(oidc.http, oidc.server),
      );
    } catch (error) {
      throw idTokenRefusal(error, context) ?? keysUnavailable(error);
    }
  }
  const claims = oauth.getValidatedIdTokenClaims(body);
  return {
    ...(body.id_token === undefined ? {} : { idToken: body.id_token }),
    ...(body.refresh_token === undefined ? {} : { refreshToken: body.refresh_token }),
    ...(claims === undefined
      ? {}
      : {
          identity: {
            subject: claims.sub,
            ...(typeof claims.email === 'string' ? { email: claims.email } : {}),
            expiresAt: new Date(claims.exp * 1000),
          },
        }),
  };
}

/** Per request: our fetch, a fresh timeout, no redirects followed, http only for a loopback issuer. */
function requestOptions(http: HttpOptions, issuer: URL | oauth.AuthorizationServer) {
  const url = issuer instanceof URL ? issuer : new URL(issuer.issuer);
  const doFetch = http.fetch;
  return {
    ...(doFetch === undefined
      ? {}
      : { [oauth.customFetch]: (target: string, init: unknown) => doFetch(target, init as RequestInit) }),
    [oauth.allowInsecureRequests]: url.protocol === 'http:' && isLoopback(url),
    signal: () => AbortSignal.timeout(http.timeoutMs ?? 15_000),
  };
}

function isLoopback(url: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

/** An OAuth error response (RFC 6749 §5.2) as one sentence: the code and a cleaned description. */
function oauthError(
  what: string,
  error: oauth.ResponseBodyError | oauth.AuthorizationResponseError,
  hint?: string,
): EggError {
  const description = error.error_description === undefined ? '' : `: ${printable(error.error_description)}`;
  return new EggError(
    'ERR_OIDC',
    `${what}: ${printable(error.error)}${description}`,
    hint === undefined ? {} : { hint },
  );
}

function unreachable(what: string, url: string, cause: unknown): EggError {
  return new EggError('ERR_OIDC', `could not reach the issuer’s ${what} endpoint ${new URL(url).origin}`, {
    cause,
    hint: 'check the network and the issuer URL',
  });
}

/** A library error's message, or the HTTP status of a response that was not OAuth at all. */
function reason(error: unknown): string {
  if (error instanceof oauth.OperationProcessingError && error.code === oauth.RESPONSE_IS_NOT_CONFORM)
    return `HTTP ${responseStatus(error) ?? '?'}`;
  return error instanceof Error ? error.message : String(error);
}

function responseStatus(error: oauth.OperationProcessingError): number | undefined {
  return error.cause instanceof Response ? error.cause.status : undefined;
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
export function printable(value: unknown): string {
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
