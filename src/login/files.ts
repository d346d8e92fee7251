/** The login's file names under `EGG_HOME`, in a module of its own so src/backends/identity.ts can check for a session without loading the login code. */

/** The session and its cached STS credentials (src/login/session.ts). */
export const SESSION_FILE = 'login.json';

/** The refresh token, when no OS keychain keeps it (src/login/token-store.ts). */
export const REFRESH_TOKEN_FILE = 'login-refresh-token';

/** Held while a process refreshes the session (src/login/session.ts). */
export const LOCK_FILE = 'login.lock';
