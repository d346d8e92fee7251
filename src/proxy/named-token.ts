/**
 * The namespace and id a refused token names, read without trusting it (its signature did not
 * hold, or it expired): what usage counting needs to count a 401 against the token it names
 * (issue 10: invalid-token attempts naming a token's id). Nothing here authorizes anything;
 * the store keeps such counts only for ids recorded in that namespace.
 */
import { isNamespace } from '../names.js';
import { TOKEN_ID } from '../tokens/claims.js';
import { decodeToken } from '../tokens/format.js';

/** `{ sub, jti }` from a token string shaped like ours (prefix and checksum), else undefined. */
export function namedToken(token: string): { sub: string; jti: string } | undefined {
  const jws = decodeToken(token);
  if (jws === undefined) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString()) as unknown;
    const { sub, jti } = (payload ?? {}) as { sub?: unknown; jti?: unknown };
    if (typeof sub !== 'string' || typeof jti !== 'string') return undefined;
    return isNamespace(sub) && TOKEN_ID.test(jti) ? { sub, jti } : undefined;
  } catch {
    return undefined;
  }
}
