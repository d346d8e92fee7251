/**
 * `egg login`, `egg whoami`, `egg logout` and the credentials a login session yields.
 *
 * Login: discovery → either device authorization (the user approves in a browser, RFC 8628)
 * and polling, or the authorization code grant with PKCE over a loopback redirect (RFC 7636,
 * RFC 8252) for issuers without the device grant (Amazon Cognito) → the same from here on:
 * ID token verified → for the aws backend, STS `AssumeRoleWithWebIdentity` with it, exactly
 * as CI does (src/auth/sts.ts); for the api backend, the ID token itself is the API's bearer
 * token (docs/service.md) → the refresh token to the keychain (or a 0600 file), the session
 * with its credentials or ID token to `$EGG_HOME/login.json`. Later commands take the cached
 * credentials while more than five minutes remain (the ID token, two), and otherwise refresh:
 * refresh grant → new ID token (same subject) → STS again on aws, storing the rotated
 * refresh token when the issuer sends one. Refreshes hold one lock, so concurrent `egg`
 * processes refresh once.
 */
import { join } from 'node:path';
import type { AuthorizationServer } from 'oauth4webapi';
import { assumeRoleWithWebIdentity, type StsCredentials, StsRequestFailed } from '../auth/sts.js';
import type { AwsCredentials } from '../aws/clients.js';
import { EggError, isEggError } from '../errors.js';
import { type Logger, nullLogger } from '../log.js';
import { sleep as realSleep } from '../retry.js';
import { REFRESH_TOKEN_FILE } from './files.js';
import type { Identity } from './id-token.js';
import { DEFAULT_CALLBACK_TIMEOUT_MS, listenForCallback } from './loopback.js';
import {
  authorizationUrl,
  discover,
  exchangeCode,
  newAuthorizationRequest,
  type OidcClient,
  parseAuthorizationResponse,
  pollForTokens,
  refreshTokens,
  requestDeviceAuthorization,
  revokeToken,
  type TokenSet,
} from './oauth.js';
import {
  type ApiSession,
  type AwsSession,
  type CachedCredentials,
  deleteSession,
  readSession,
  type Session,
  sessionExpiry,
  sessionPath,
  withSessionLock,
  writeSession,
} from './session.js';
import {
  type AwsLoginSettings,
  ID_TOKEN_REFRESH_WINDOW_MS,
  type LoginSettings,
  REFRESH_WINDOW_MS,
} from './settings.js';
import { detectTokenStore, FileTokenStore, type RefreshTokenStore, tokenStoreOfKind } from './token-store.js';

/** Side effects, swappable for tests: the network, the clock, waiting, the environment. */
export interface LoginDeps {
  fetch?: typeof fetch;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  logger?: Logger;
}

/** What the user must do to approve the login (RFC 8628 §3.3). */
export interface LoginPrompt {
  verificationUri: string;
  verificationUriComplete?: string;
  userCode: string;
  expiresAt: Date;
}

/** The grant `egg login` uses: `auto` takes the device flow when the issuer offers it, else the browser. */
export type LoginFlow = 'device' | 'browser' | 'auto';

export const LOGIN_FLOWS: readonly LoginFlow[] = ['auto', 'device', 'browser'];

/** Where the browser login sends the user; the URL carries no secret (see `authorizationUrl`). */
export interface BrowserPrompt {
  authorizationUrl: string;
  redirectUri: string;
  /** When the loopback listener gives up. */
  expiresAt: Date;
}

/** How `login` talks to the user, and which grant it uses. */
export interface LoginInteraction {
  /** Default `auto`. */
  flow?: LoginFlow;
  /** Device flow: show the link and the code. */
  onPrompt: (prompt: LoginPrompt) => void;
  /** Browser flow: open the link (or show it); called once the loopback listener is up. */
  onBrowserPrompt?: (prompt: BrowserPrompt) => void | Promise<void>;
  /** Browser flow: how long to wait for the redirect. Default five minutes. */
  callbackTimeoutMs?: number;
}

/** Who is logged in for the aws backend; never a token. */
export interface AwsWhoAmI {
  loggedIn: true;
  issuer: string;
  subject: string;
  email?: string;
  roleArn: string;
  assumedRoleArn: string;
  credentialsExpireAt: string;
  credentialsExpired: boolean;
  refreshable: boolean;
  tokenStore: string;
}

/** Who is logged in for the api backend: the ID token's audience and expiry, never the token. */
export interface ApiWhoAmI {
  loggedIn: true;
  backend: 'api';
  issuer: string;
  subject: string;
  email?: string;
  /** The ID token's `aud`: the client id, which the API must list as an audience of the issuer. */
  audience: string;
  idTokenExpiresAt: string;
  idTokenExpired: boolean;
  refreshable: boolean;
  tokenStore: string;
}

export type WhoAmI = AwsWhoAmI | ApiWhoAmI;

export interface LogoutReport {
  loggedIn: boolean;
  issuer?: string;
  subject?: string;
  /** What happened at the issuer's revocation endpoint. */
  revocation: 'revoked' | 'unsupported' | 'failed' | 'no-refresh-token';
  revocationError?: string;
  /** What was deleted from this machine. */
  deleted: string[];
  /** STS credentials cannot be revoked one by one; those issued stay valid until then. */
  credentialsValidUntil?: string;
  /** api backend: the API checks a JWT without asking the issuer, so the deleted ID token stays valid until then. */
  idTokenValidUntil?: string;
}

function resolved(deps: LoginDeps) {
  return {
    now: deps.now ?? (() => new Date()),
    sleep: deps.sleep ?? realSleep,
    env: deps.env ?? process.env,
    logger: deps.logger ?? nullLogger,
    http: deps.fetch === undefined ? {} : { fetch: deps.fetch },
  };
}

/**
 * Log in with the device flow (`onPrompt` shows where to approve) or in a browser
 * (`onBrowserPrompt` opens the link), as `flow` and the issuer's discovery document decide.
 */
export async function login(
  home: string,
  settings: LoginSettings,
  deps: LoginDeps & LoginInteraction,
): Promise<WhoAmI> {
  const { now, env, logger, http } = resolved(deps);
  const oidc = await discover(settings, http, now);
  const flow = chooseFlow(oidc.server, deps.flow ?? 'auto');
  logger.debug('login.flow', { issuer: settings.issuer, flow });
  const tokens =
    flow === 'device' ? await deviceFlow(oidc, settings, deps) : await browserFlow(oidc, settings, deps);
  const { idToken, identity } = requireIdToken(tokens);
  // What the login is for, before anything of an earlier login is replaced: a refused STS call keeps it.
  const target =
    settings.backend === 'api'
      ? { backend: 'api' as const, idToken: cacheIdToken(idToken, identity) }
      : {
          roleArn: settings.roleArn,
          region: settings.region,
          durationSeconds: settings.durationSeconds,
          credentials: cache(await exchange(settings, idToken, identity, env, deps)),
        };

  // Replace whatever an earlier login left: its refresh token first, wherever it was kept.
  await forgetStoredTokens(home, env, deps.platform);
  let tokenStore: RefreshTokenStore | undefined;
  if (tokens.refreshToken !== undefined) {
    tokenStore = await saveRefreshToken(home, settings, tokens.refreshToken, env, deps.platform, logger);
  }
  const session: Session = {
    version: 1,
    issuer: settings.issuer,
    clientId: settings.clientId,
    scopes: settings.scopes,
    subject: identity.subject,
    ...(identity.email === undefined ? {} : { email: identity.email }),
    tokenStore: tokenStore?.kind ?? 'file',
    refreshable: tokenStore !== undefined,
    loggedInAt: now().toISOString(),
    ...target,
  };
  writeSession(home, session);
  logger.debug('login.ok', {
    issuer: settings.issuer,
    subject: identity.subject,
    ...(session.backend === 'api' ? { backend: 'api' } : { role: session.roleArn }),
  });
  return describe(session, now(), tokenStore?.location ?? 'none (the issuer sent no refresh token)');
}

/** What `chooseFlow` reads of the discovery document. */
export type FlowMetadata = Pick<
  AuthorizationServer,
  'issuer' | 'device_authorization_endpoint' | 'authorization_endpoint' | 'code_challenge_methods_supported'
>;

/** The grant to use with this issuer; an error naming the missing endpoint and the other flow. */
export function chooseFlow(metadata: FlowMetadata, flow: LoginFlow): 'device' | 'browser' {
  const device = metadata.device_authorization_endpoint !== undefined;
  const browser = metadata.authorization_endpoint !== undefined;
  const methods = metadata.code_challenge_methods_supported;
  const cannot = (why: string, hint: string) =>
    new EggError('ERR_OIDC', `cannot log in with ${metadata.issuer}: ${why}`, { hint });
  if (flow === 'device' || (flow === 'auto' && device)) {
    if (device) return 'device';
    throw cannot(
      'the issuer does not offer the device authorization grant (RFC 8628)',
      browser ? 'use --flow browser' : 'enable the device flow for this client at the issuer',
    );
  }
  if (!browser) {
    throw cannot(
      flow === 'auto'
        ? 'its discovery document has neither a device_authorization_endpoint nor an authorization_endpoint'
        : 'its discovery document has no authorization_endpoint',
      flow === 'browser' && device ? 'use --flow device' : 'check --issuer (EGG_OIDC_ISSUER)',
    );
  }
  // RFC 8414 §2: a listed set without S256 means the issuer would ignore or refuse our challenge.
  if (methods !== undefined && !methods.includes('S256')) {
    throw cannot(
      'it does not support PKCE with S256 (code_challenge_methods_supported)',
      device ? 'use --flow device' : 'use another issuer',
    );
  }
  return 'browser';
}

async function deviceFlow(
  oidc: OidcClient,
  settings: LoginSettings,
  deps: LoginDeps & LoginInteraction,
): Promise<TokenSet> {
  const { now, sleep, logger } = resolved(deps);
  const authorization = await requestDeviceAuthorization(oidc, settings.scopes);
  deps.onPrompt({
    verificationUri: authorization.verificationUri,
    ...(authorization.verificationUriComplete === undefined
      ? {}
      : { verificationUriComplete: authorization.verificationUriComplete }),
    userCode: authorization.userCode,
    expiresAt: new Date(now().getTime() + authorization.expiresIn * 1000),
  });
  return pollForTokens(oidc, authorization, { sleep, now, logger });
}

/**
 * RFC 6749 §4.1 with PKCE (RFC 7636, S256) over a loopback redirect (RFC 8252 §7.3): listen
 * on 127.0.0.1, send the browser to the authorization endpoint with a fresh state, nonce and
 * challenge, take the one redirect that comes back (its state checked exactly), and trade the
 * code and the verifier for tokens. The verifier never leaves this process before that.
 */
async function browserFlow(
  oidc: OidcClient,
  settings: LoginSettings,
  deps: LoginDeps & LoginInteraction,
): Promise<TokenSet> {
  const { now, logger } = resolved(deps);
  if (deps.onBrowserPrompt === undefined) throw new TypeError('a browser login needs onBrowserPrompt');
  const secrets = newAuthorizationRequest();
  const timeoutMs = deps.callbackTimeoutMs ?? DEFAULT_CALLBACK_TIMEOUT_MS;
  const listener = await listenForCallback({
    port: settings.redirectPort,
    timeoutMs,
    accept: (params) =>
      parseAuthorizationResponse(params, {
        state: secrets.state,
        server: oidc.server,
        clientId: settings.clientId,
      }),
  });
  try {
    const request = { ...secrets, redirectUri: listener.redirectUri };
    logger.debug('login.browser.listening', { redirectUri: request.redirectUri });
    await deps.onBrowserPrompt({
      authorizationUrl: await authorizationUrl(oidc, settings.scopes, request),
      redirectUri: request.redirectUri,
      expiresAt: new Date(now().getTime() + timeoutMs),
    });
    return await exchangeCode(oidc, await listener.result, request);
  } finally {
    listener.close();
  }
}

/** Who is logged in, from the session file alone (no network); undefined when nobody is. */
export function whoami(home: string, deps: LoginDeps = {}): WhoAmI | undefined {
  const { now, env } = resolved(deps);
  const session = readSession(home);
  if (session === undefined) return undefined;
  const location = session.refreshable
    ? storeOf(home, session, env, deps.platform).location
    : 'none (the issuer sent no refresh token)';
  return describe(session, now(), location);
}

function describe(session: Session, now: Date, tokenStore: string): WhoAmI {
  if (session.backend === 'api') {
    return {
      loggedIn: true,
      backend: 'api',
      issuer: session.issuer,
      subject: session.subject,
      ...(session.email === undefined ? {} : { email: session.email }),
      audience: session.clientId,
      idTokenExpiresAt: session.idToken.expiresAt,
      idTokenExpired: Date.parse(session.idToken.expiresAt) <= now.getTime(),
      refreshable: session.refreshable,
      tokenStore,
    };
  }
  return {
    loggedIn: true,
    issuer: session.issuer,
    subject: session.subject,
    ...(session.email === undefined ? {} : { email: session.email }),
    roleArn: session.roleArn,
    assumedRoleArn: session.credentials.assumedRoleArn,
    credentialsExpireAt: session.credentials.expiration,
    credentialsExpired: Date.parse(session.credentials.expiration) <= now.getTime(),
    refreshable: session.refreshable,
    tokenStore,
  };
}

/**
 * Revoke the refresh token at the issuer (RFC 7009) when it offers an endpoint, then delete
 * the token and the session. Local deletion happens even when revocation fails.
 */
export async function logout(home: string, deps: LoginDeps = {}): Promise<LogoutReport> {
  const { env, http, logger } = resolved(deps);
  let session: Session | undefined;
  try {
    session = readSession(home);
  } catch (error) {
    if (!isEggError(error, 'ERR_LOGIN_REQUIRED')) throw error;
  }
  const deleted: string[] = [];
  if (session === undefined) {
    // Nobody is logged in; still remove a refresh-token file a broken session left behind.
    const file = fileStore(home);
    if (await file.delete()) deleted.push(`refresh token (${file.location})`);
    if (deleteSession(home)) deleted.push(`login session (${sessionPath(home)})`);
    return { loggedIn: false, revocation: 'no-refresh-token', deleted };
  }
  const store = session.refreshable ? storeOf(home, session, env, deps.platform) : undefined;
  const refreshToken = await store?.load();
  let revocation: LogoutReport['revocation'] = 'no-refresh-token';
  let revocationError: string | undefined;
  if (refreshToken !== undefined) {
    try {
      const oidc = await discover(session, http);
      revocation = (await revokeToken(oidc, refreshToken)) ? 'revoked' : 'unsupported';
    } catch (error) {
      revocation = 'failed';
      revocationError = error instanceof Error ? error.message : String(error);
      logger.warn('logout.revoke_failed', { issuer: session.issuer });
    }
  }
  if (store !== undefined && (await store.delete())) deleted.push(`refresh token (${store.location})`);
  const what =
    session.backend === 'api' ? 'login session and its ID token' : 'login session and cached AWS credentials';
  if (deleteSession(home)) deleted.push(`${what} (${sessionPath(home)})`);
  return {
    loggedIn: true,
    issuer: session.issuer,
    subject: session.subject,
    revocation,
    ...(revocationError === undefined ? {} : { revocationError }),
    deleted,
    ...(session.backend === 'api'
      ? { idTokenValidUntil: session.idToken.expiresAt }
      : { credentialsValidUntil: session.credentials.expiration }),
  };
}

/**
 * The session's credentials, refreshed first when fewer than five minutes remain. Refreshing
 * holds the session lock and re-reads the session, so concurrent processes refresh once.
 */
export async function sessionCredentials(home: string, deps: LoginDeps = {}): Promise<StsCredentials> {
  return uncache((await freshSession(home, deps, awsSession, REFRESH_WINDOW_MS)).credentials);
}

/**
 * The api backend's bearer token: the session's ID token, refreshed first (under the same
 * lock) when fewer than two minutes remain of its `exp`.
 */
export async function sessionIdToken(home: string, deps: LoginDeps = {}): Promise<string> {
  return (await freshSession(home, deps, apiSession, ID_TOKEN_REFRESH_WINDOW_MS)).idToken.token;
}

/**
 * The session `pick` accepts, refreshed first when less than `windowMs` remains of what it
 * caches: under the session lock, after reading the session again, since another process
 * may have refreshed it while this one waited.
 */
async function freshSession<S extends Session>(
  home: string,
  deps: LoginDeps,
  pick: (session: Session | undefined) => S,
  windowMs: number,
): Promise<S> {
  const { now, sleep } = resolved(deps);
  const fresh = (session: S) => Date.parse(sessionExpiry(session)) - now().getTime() > windowMs;
  const session = pick(readSession(home));
  if (fresh(session)) return session;
  return withSessionLock(
    home,
    async () => {
      const current = pick(readSession(home));
      return fresh(current) ? current : pick(await refresh(home, current, deps));
    },
    { sleep },
  );
}

async function refresh(home: string, session: Session, deps: LoginDeps): Promise<Session> {
  const { now, env, logger, http } = resolved(deps);
  const hint = `run \`${loginCommand(session)}\` again`;
  const again = (message: string, cause?: unknown) =>
    new EggError('ERR_LOGIN_REQUIRED', message, { hint, ...(cause === undefined ? {} : { cause }) });
  if (!session.refreshable) {
    const what = session.backend === 'api' ? 'ID token has' : 'credentials have';
    throw again(`your login’s ${what} expired and the issuer gave no refresh token`);
  }
  const store = storeOf(home, session, env, deps.platform);
  const refreshToken = await store.load();
  if (refreshToken === undefined) throw again(`the login’s refresh token is missing from ${store.location}`);
  try {
    const oidc = await discover(session, http, now);
    const tokens = await refreshTokens(oidc, refreshToken);
    // Rotation (OAuth 2.0 Security BCP §4.14.2): the old token is dead once the new one is issued.
    if (tokens.refreshToken !== undefined && tokens.refreshToken !== refreshToken)
      await store.save(tokens.refreshToken);
    const { idToken, identity } = requireIdToken(tokens);
    // OIDC Core §12.2: a refreshed ID token must be about the same person.
    if (identity.subject !== session.subject) {
      throw new EggError('ERR_OIDC', 'the refreshed ID token names another subject than the login');
    }
    const email = identity.email === undefined ? {} : { email: identity.email };
    const next: Session =
      session.backend === 'api'
        ? { ...session, ...email, idToken: cacheIdToken(idToken, identity) }
        : { ...session, ...email, credentials: cache(await exchange(session, idToken, identity, env, deps)) };
    writeSession(home, next);
    logger.debug('login.refreshed', { issuer: session.issuer, subject: session.subject });
    return next;
  } catch (error) {
    // The issuer's refusal (invalid_grant) is already one sentence; it gets this login's hint.
    if (isEggError(error, 'ERR_LOGIN_REQUIRED'))
      throw new EggError('ERR_LOGIN_REQUIRED', error.message, { hint, cause: error });
    const reason = error instanceof Error ? error.message : String(error);
    throw again(`could not refresh your login: ${reason}`, error);
  }
}

/** The command that logs in again for `session`'s backend. */
function loginCommand(session: Session | undefined): string {
  return session?.backend === 'api' ? 'egg login --backend api' : 'egg login';
}

/** The aws backend's session, or why there is none. */
function awsSession(session: Session | undefined): AwsSession {
  if (requireSession(session, 'egg login').backend !== 'api') return session as AwsSession;
  throw new EggError(
    'ERR_LOGIN_REQUIRED',
    'your login is for the api backend, which has no AWS credentials',
    {
      hint: 'run `egg login` with a role (--role-arn) to use the aws backend',
    },
  );
}

/** The api backend's session, or why there is none. */
function apiSession(session: Session | undefined): ApiSession {
  const current = requireSession(session, 'egg login --backend api');
  if (current.backend === 'api') return current;
  throw new EggError('ERR_LOGIN_REQUIRED', 'your login is for the aws backend (a role), not for the API', {
    hint: 'run `egg login --backend api`',
  });
}

/**
 * A credentials provider for the AWS SDK when `home` holds a login session: it returns the
 * cached credentials and refreshes them when fewer than five minutes remain (the SDK
 * memoizes the answer and calls again within five minutes of `expiration`).
 */
export async function loginCredentialsProvider(
  home: string,
  deps: LoginDeps = {},
): Promise<(() => Promise<AwsCredentials>) | undefined> {
  if (readSession(home) === undefined) return undefined;
  let inFlight: Promise<StsCredentials> | undefined;
  const provide = async (): Promise<AwsCredentials> => {
    inFlight ??= sessionCredentials(home, deps).finally(() => {
      inFlight = undefined;
    });
    const { accessKeyId, secretAccessKey, sessionToken, expiration } = await inFlight;
    return { accessKeyId, secretAccessKey, sessionToken, expiration };
  };
  // Once now, so an expired login fails here with its own message rather than inside the first AWS call.
  await provide();
  return provide;
}

async function exchange(
  settings: Pick<AwsLoginSettings, 'roleArn' | 'region' | 'durationSeconds'>,
  idToken: string,
  identity: { subject: string; email?: string },
  env: NodeJS.ProcessEnv,
  deps: LoginDeps,
): Promise<StsCredentials> {
  try {
    return await assumeRoleWithWebIdentity({
      roleArn: settings.roleArn,
      webIdentityToken: idToken,
      sessionName: `egg-${identity.email ?? identity.subject}`.replace(/[^\w+=,.@-]/g, '_').slice(0, 64),
      durationSeconds: settings.durationSeconds,
      region: settings.region,
      env,
      ...(deps.sleep === undefined ? {} : { sleep: deps.sleep }),
      ...(deps.logger === undefined ? {} : { logger: deps.logger }),
    });
  } catch (error) {
    if (error instanceof StsRequestFailed && error.refused) {
      throw new EggError(
        'ERR_ACCESS_DENIED',
        `STS refused to let you assume ${settings.roleArn}: ${error.awsCode}`,
        {
          cause: error,
          // The subject is no secret, and the one thing an administrator needs to let this person in.
          hint: `the role’s trust policy must name this issuer as an OIDC provider, with your client id as audience and your subject (${identity.subject.replace(/[^\x20-\x7e]/g, '?').slice(0, 128)}) allowed`,
        },
      );
    }
    throw error;
  }
}

function requireIdToken(tokens: TokenSet): { idToken: string; identity: Identity } {
  if (tokens.idToken === undefined || tokens.identity === undefined) {
    throw new EggError('ERR_OIDC', 'the issuer answered without an ID token', {
      hint: 'the login scopes must include "openid"',
    });
  }
  return { idToken: tokens.idToken, identity: tokens.identity };
}

function requireSession(session: Session | undefined, command: string): Session {
  if (session === undefined) {
    throw new EggError('ERR_LOGIN_REQUIRED', 'you are not logged in', { hint: `run \`${command}\`` });
  }
  return session;
}

function storeOf(
  home: string,
  session: Session,
  env: NodeJS.ProcessEnv,
  platform?: NodeJS.Platform,
): RefreshTokenStore {
  return tokenStoreOfKind(session.tokenStore, {
    home,
    issuer: session.issuer,
    clientId: session.clientId,
    env,
    ...(platform === undefined ? {} : { platform }),
  });
}

function fileStore(home: string): FileTokenStore {
  return new FileTokenStore(join(home, REFRESH_TOKEN_FILE), home);
}

/** Delete the refresh token an earlier session kept (a new login replaces it). */
async function forgetStoredTokens(
  home: string,
  env: NodeJS.ProcessEnv,
  platform?: NodeJS.Platform,
): Promise<void> {
  let previous: Session | undefined;
  try {
    previous = readSession(home);
  } catch (error) {
    if (!isEggError(error, 'ERR_LOGIN_REQUIRED')) throw error;
  }
  if (previous?.refreshable) await storeOf(home, previous, env, platform).delete();
}

/** Keep the refresh token in the keychain, falling back to the file when the keychain refuses. */
async function saveRefreshToken(
  home: string,
  settings: LoginSettings,
  token: string,
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform | undefined,
  logger: Logger,
): Promise<RefreshTokenStore> {
  const store = detectTokenStore({
    home,
    issuer: settings.issuer,
    clientId: settings.clientId,
    env,
    ...(platform === undefined ? {} : { platform }),
  });
  try {
    await store.save(token);
    if (store.kind !== 'file') await fileStore(home).delete();
    return store;
  } catch (error) {
    if (store.kind === 'file' || env.EGG_TOKEN_STORE === 'keychain') throw error;
    logger.warn('login.keychain_unavailable', { store: store.kind });
    const file = fileStore(home);
    await file.save(token);
    return file;
  }
}

function cache(credentials: StsCredentials): CachedCredentials {
  return {
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
    sessionToken: credentials.sessionToken,
    expiration: credentials.expiration.toISOString(),
    assumedRoleArn: credentials.assumedRoleArn,
  };
}

function cacheIdToken(token: string, identity: Identity): ApiSession['idToken'] {
  return { token, expiresAt: identity.expiresAt.toISOString() };
}

function uncache(credentials: CachedCredentials): StsCredentials {
  return { ...credentials, expiration: new Date(credentials.expiration) };
}
