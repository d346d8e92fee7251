/**
 * The one place the CLI finds the bearer token it sends to the API (service mode,
 * docs/service.md): today `EGG_API_TOKEN`. `egg login` will supply and refresh it from its
 * session under `home` here, so every caller (`ApiClient`) gets it the same way.
 */
import { EggError } from '../errors.js';

/**
 * The JWT to send as `Authorization: Bearer …`, or `ERR_LOGIN_REQUIRED` saying how to get one.
 * @example
 * const client = new ApiClient(url, await apiBearer(process.env, config.home));
 */
export async function apiBearer(env: NodeJS.ProcessEnv, home: string): Promise<string> {
  void home; // the login session's place, once `egg login` supplies the token
  const token = env.EGG_API_TOKEN;
  if (token === undefined || token === '')
    throw new EggError('ERR_LOGIN_REQUIRED', 'no token for the API: EGG_API_TOKEN is not set', {
      hint: 'set it to an ID token from an issuer the API trusts',
    });
  return token;
}
