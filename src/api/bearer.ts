/**
 * The bearer token the CLI sends to the API (docs/service.md): `EGG_API_TOKEN` when it is set
 * (an explicit token wins: a CI job's OIDC token, or one a script obtained itself), else the
 * ID token of the `egg login --backend api` session in `home`, refreshed first when less than
 * two minutes of it remain (src/login/login.ts `sessionIdToken`, under the session lock, so
 * concurrent `egg` processes refresh once). The login code loads only when it is needed.
 */

/**
 * The JWT for the API's `Authorization: Bearer`, or `ERR_LOGIN_REQUIRED` saying to run
 * `egg login --backend api`.
 * @example
 * const client = new ApiClient(url, await apiBearer(process.env, config.home));
 */
export async function apiBearer(env: NodeJS.ProcessEnv, home: string): Promise<string> {
  const explicit = env.EGG_API_TOKEN;
  if (explicit !== undefined && explicit !== '') return explicit;
  const { sessionIdToken } = await import('../login/login.js');
  return sessionIdToken(home, { env });
}
