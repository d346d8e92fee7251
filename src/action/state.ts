/** The names under which the main step records, with `core.saveState`, what the post step undoes. */

/** JSON array of absolute paths the main step wrote under RUNNER_TEMP. */
export const STATE_FILES = 'files';
/** JSON array of token ids the job minted, for the post step to revoke. */
export const STATE_TOKENS = 'tokens';
/**
 * JSON `TokenVault`: where the job minted its tokens, saved before the first mint, so the post
 * step revokes through the same vault whatever its inputs. GITHUB_STATE is readable by later
 * steps, so it holds only names: never a credential, a token or a key.
 */
export const STATE_TOKEN_VAULT = 'token-vault';

export type TokenVault = LocalTokenVault | AwsTokenVault | ApiTokenVault;

export interface LocalTokenVault {
  backend: 'local';
  home: string;
  namespace: string;
}

/** The post step re-assumes `roleArn` with a fresh OIDC token for `audience`: the main step's credentials are not kept. */
export interface AwsTokenVault {
  backend: 'aws';
  region: string;
  table: string;
  namespace: string;
  roleArn: string;
  audience: string;
}

/** The post step requests a fresh OIDC token for `audience` and revokes through the API at `url`, as the main step minted. */
export interface ApiTokenVault {
  backend: 'api';
  url: string;
  namespace: string;
  audience: string;
}
