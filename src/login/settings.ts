/**
 * What `egg login` needs to know, read once from configuration (flags, `EGG_*`, `.egg.json`,
 * the user config) and checked here rather than in `resolveConfig`, so a bad login setting
 * breaks only the login commands. A bad value's error names where it came from (the flag,
 * the variable, which file). The issuer, client id and role come from a project's `.egg.json`
 * only once it is trusted (`egg trust`; src/config.ts refuses it otherwise).
 */
import { type EggConfig, type Setting, sourceSuffix } from '../config.js';
import { EggError } from '../errors.js';

/** Scopes asked for when none are configured: an ID token, the email claim, a refresh token. */
export const DEFAULT_SCOPES = 'openid email offline_access';

/** STS session length for a login: one hour, the default maximum of an IAM role. */
export const SESSION_SECONDS = 3600;

/** Credentials are refreshed when fewer than this many milliseconds remain (the AWS SDK uses the same window). */
export const REFRESH_WINDOW_MS = 5 * 60_000;

/**
 * The API's ID token is refreshed when fewer than this many milliseconds remain: more than a
 * call's 30-second timeout plus the API's 30 seconds of clock skew, and short enough that an
 * issuer's five-minute tokens (Cognito's least) are not refreshed on every command.
 */
export const ID_TOKEN_REFRESH_WINDOW_MS = 2 * 60_000;

/**
 * The browser login's loopback redirect port when none is configured: `http://127.0.0.1:27843/callback`
 * is what an app client registers at issuers that want the exact URL (Amazon Cognito). It lies
 * below every OS's ephemeral range (Linux 32768–60999, Windows and macOS 49152–65535), so no
 * outgoing connection ever holds it, and is no common development server's port.
 */
export const DEFAULT_REDIRECT_PORT = 27843;

/** STS region when none is configured; the regional endpoint of us-east-1 serves every account. */
export const DEFAULT_STS_REGION = 'us-east-1';

/** What every login needs: the issuer, the client, the scopes, the redirect. */
export interface IssuerSettings {
  issuer: string;
  clientId: string;
  /** Sent as `client_secret` when set (EGG_OIDC_CLIENT_SECRET): Google's device clients need one. */
  clientSecret?: string;
  scopes: string;
  /** The browser login's loopback redirect port; 0 means any free port (RFC 8252 §7.3). */
  redirectPort: number;
}

/** A login for the aws backend: the ID token is exchanged with STS for the role. */
export interface AwsLoginSettings extends IssuerSettings {
  backend?: 'aws';
  roleArn: string;
  region: string;
  durationSeconds: number;
}

/** A login for the api backend: the ID token itself is the API's bearer token (its audience, the client id). */
export interface ApiLoginSettings extends IssuerSettings {
  backend: 'api';
}

export type LoginSettings = AwsLoginSettings | ApiLoginSettings;

/**
 * The login settings of `config`, or an error naming the flag and variable to set. With the
 * api backend no role is needed (and one configured is not used).
 */
export function resolveLoginSettings(config: EggConfig, env: NodeJS.ProcessEnv = process.env): LoginSettings {
  const from = (key: Setting) => sourceSuffix(config, key);
  const issuer = required(config.oidcIssuer, 'an OIDC issuer', '--issuer or EGG_OIDC_ISSUER');
  try {
    assertIssuerUrl(issuer, 'the OIDC issuer');
  } catch (error) {
    if (!(error instanceof EggError)) throw error;
    throw new EggError(error.code, `${error.message}${from('oidcIssuer')}`, { cause: error });
  }
  const clientId = required(config.oidcClientId, 'an OAuth client id', '--client-id or EGG_OIDC_CLIENT_ID');
  const scopes = (config.oidcScopes ?? DEFAULT_SCOPES).trim().split(/\s+/);
  if (!scopes.includes('openid')) {
    throw new EggError(
      'ERR_INVALID_CONFIG',
      `the login scopes "${scopes.join(' ')}" lack "openid"${from('oidcScopes')}`,
      { hint: 'the ID token a login needs comes only with the openid scope' },
    );
  }
  const common: IssuerSettings = {
    issuer: issuer.replace(/\/+$/, ''),
    clientId,
    ...(env.EGG_OIDC_CLIENT_SECRET ? { clientSecret: env.EGG_OIDC_CLIENT_SECRET } : {}),
    scopes: scopes.join(' '),
    redirectPort: redirectPort(config.oidcRedirectPort, from('oidcRedirectPort')),
  };
  if (config.backend === 'api') return { ...common, backend: 'api' };
  const roleArn = required(config.roleArn, 'an IAM role to assume', '--role-arn or EGG_ROLE_ARN');
  if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/.test(roleArn)) {
    throw new EggError('ERR_INVALID_CONFIG', `"${roleArn}" is not an IAM role ARN${from('roleArn')}`, {
      hint: 'use arn:aws:iam::ACCOUNT:role/NAME',
    });
  }
  return {
    ...common,
    roleArn,
    region: config.region ?? DEFAULT_STS_REGION,
    durationSeconds: SESSION_SECONDS,
  };
}

function redirectPort(value: string | undefined, from: string): number {
  if (value === undefined) return DEFAULT_REDIRECT_PORT;
  const port = Number(value);
  if (!/^\d{1,5}$/.test(value.trim()) || port > 65_535) {
    throw new EggError('ERR_INVALID_CONFIG', `"${value}" is not a port for the login’s redirect${from}`, {
      hint: 'set --redirect-port or EGG_OIDC_REDIRECT_PORT to a whole number from 0 to 65535 (0: any free port)',
    });
  }
  return port;
}

function required(value: string | undefined, what: string, where: string): string {
  if (value === undefined || value.trim() === '') {
    throw new EggError('ERR_INVALID_CONFIG', `egg login needs ${what}`, { hint: `set ${where}` });
  }
  return value.trim();
}

/**
 * An issuer or endpoint URL must be https (OIDC Discovery §3); plain http is allowed only on
 * loopback, for development and tests (as RFC 8252 §7.3 allows loopback redirects).
 */
export function assertIssuerUrl(value: string, label: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new EggError('ERR_INVALID_CONFIG', `${label} "${value}" is not a URL`);
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new EggError('ERR_INVALID_CONFIG', `${label} "${value}" must use https`);
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new EggError(
      'ERR_INVALID_CONFIG',
      `${label} "${value}" must not carry a query, fragment or credentials`,
    );
  }
  return url;
}
