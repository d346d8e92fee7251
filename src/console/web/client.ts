/**
 * The page's requests to its own server: same origin, the session cookie, and on every POST
 * the CSRF token the server gave this page (`/api/about`), which no other origin can read.
 */

export class ApiError extends Error {
  constructor(
    message: string,
    readonly hint: string | undefined,
  ) {
    super(message);
  }
}

let csrf = '';

export function setCsrf(token: string): void {
  csrf = token;
}

async function answer<T>(response: Response): Promise<T> {
  const type = response.headers.get('content-type') ?? '';
  if (type.startsWith('application/json')) {
    const body = (await response.json()) as { error?: { message: string; hint?: string } };
    if (!response.ok || body.error !== undefined)
      throw new ApiError(body.error?.message ?? `HTTP ${response.status}`, body.error?.hint);
    return body as T;
  }
  const text = await response.text();
  throw new ApiError(text.replace(/^egg console: /, '').trim() || `HTTP ${response.status}`, undefined);
}

export async function getJson<T>(path: string): Promise<T> {
  return answer<T>(await fetch(path, { credentials: 'same-origin', cache: 'no-store' }));
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  return answer<T>(
    await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-egg-csrf': csrf },
      body: JSON.stringify(body),
    }),
  );
}

/** An error as one line for a status message. */
export function describe(error: unknown): string {
  if (error instanceof ApiError)
    return error.hint === undefined ? error.message : `${error.message} (${error.hint})`;
  return error instanceof Error ? error.message : String(error);
}
