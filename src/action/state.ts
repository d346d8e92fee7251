/** The names under which the main step records, with `core.saveState`, what the post step undoes. */

/** JSON array of absolute paths the main step wrote under RUNNER_TEMP. */
export const STATE_FILES = 'files';
/** JSON array of token ids the job minted, for the post step to revoke. */
export const STATE_TOKENS = 'tokens';
/**
 * JSON `{ backend: 'local', home, namespace }`: where the job minted its tokens, saved before
 * the first mint, so the post step revokes through the same vault whatever its inputs.
 */
export const STATE_TOKEN_VAULT = 'token-vault';

export interface TokenVault {
  backend: 'local';
  home: string;
  namespace: string;
}
