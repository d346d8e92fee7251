/**
 * Where a request carries its egg token: `Authorization: Bearer …` (OpenAI's clients) or
 * `x-api-key` (Anthropic's). Both headers are stripped before the request goes upstream
 * (headers.ts) and left out of the log's header hash (log-line.ts).
 */

/**
 * The egg token of a request with these `Authorization` and `x-api-key` values, or undefined
 * when neither holds one. `Bearer` in any case, spaces, the token, spaces; `Authorization`
 * wins when both are sent. What is left is not checked further here: the verifier refuses
 * anything that is not exactly a token (whitespace included).
 *
 * @example tokenFromHeaders('Bearer egg_…', undefined) // 'egg_…'
 */
export function tokenFromHeaders(
  authorization: string | undefined,
  apiKey: string | string[] | undefined,
): string | undefined {
  if (authorization !== undefined) {
    if (authorization.length < 8 || authorization.charCodeAt(6) !== 0x20) return undefined;
    if (authorization.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
    let start = 7;
    while (authorization.charCodeAt(start) === 0x20) start++;
    let end = authorization.length;
    while (end > start && authorization.charCodeAt(end - 1) === 0x20) end--;
    return start === end ? undefined : authorization.slice(start, end);
  }
  return typeof apiKey === 'string' ? apiKey.trim() : undefined;
}
