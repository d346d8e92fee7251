/** The names under which the main step records, with `core.saveState`, what the post step undoes. */

/** JSON array of absolute paths the main step wrote under RUNNER_TEMP. */
export const STATE_FILES = 'files';
/** JSON array of token ids the job minted, for the post step to revoke (tokens: a later issue). */
export const STATE_TOKENS = 'tokens';
