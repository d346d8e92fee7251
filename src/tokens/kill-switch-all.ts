/**
 * `egg killswitch --all` (issue 10 item 5): every token of every namespace the caller may
 * reach, void at once. First the account-wide epoch (token-store.ts), which every proxy
 * reads with each poll, so every token issued before it is refused everywhere within a
 * second, in namespaces nobody can list too. Then, for each namespace the caller can list,
 * the namespace's own kill switch (tokens.ts), which also marks every token record (the
 * epoch alone compares `iat`, which a minter chooses) and records it in that namespace's
 * audit trail. A failure on one namespace does not stop the others; each is reported.
 */
import { EggError } from '../errors.js';
import type { TokenStore } from './token-store.js';
import type { Tokens } from './tokens.js';

export interface KillSwitchAllOptions {
  tokens: Pick<TokenStore, 'accountKillSwitch'>;
  /** The namespaces the caller can list (the secret store's `listNamespaces`). */
  listNamespaces: () => Promise<string[]>;
  /** Minting, listing and revocation in `namespace` (open-backend.ts `tokensOn`). */
  tokensIn: (namespace: string) => Promise<Pick<Tokens, 'killSwitch'>>;
  clock?: () => number;
}

export type NamespaceKill =
  { namespace: string; ok: true; notBefore: string } | { namespace: string; ok: false; error: string };

export interface KillSwitchAllResult {
  /** The account-wide epoch now in force: tokens issued before it are void everywhere. */
  notBefore: string;
  /** Each namespace listed, killed or not (with why). */
  namespaces: NamespaceKill[];
  /** Why no namespace could be listed (their records are not marked), when so. */
  unlisted?: string;
}

/** The account-wide kill switch, then each listed namespace's; see the module comment. */
export async function killSwitchAll(options: KillSwitchAllOptions): Promise<KillSwitchAllResult> {
  const clock = options.clock ?? Date.now;
  // +2: a token minted in this very second (iat == now) is void too, and so is one dated at a
  // namespace's kill switch epoch (tokens.ts dates a token at the epochs in force), which is
  // at most now + 1 when that switch was thrown in this same second.
  const epoch = await options.tokens.accountKillSwitch(Math.floor(clock() / 1000) + 2);
  const result: KillSwitchAllResult = { notBefore: new Date(epoch * 1000).toISOString(), namespaces: [] };
  let namespaces: string[];
  try {
    namespaces = await options.listNamespaces();
  } catch (error) {
    result.unlisted = describe(error);
    return result;
  }
  for (const namespace of namespaces) {
    try {
      const { notBefore } = await (await options.tokensIn(namespace)).killSwitch();
      result.namespaces.push({ namespace, ok: true, notBefore });
    } catch (error) {
      result.namespaces.push({ namespace, ok: false, error: describe(error) });
    }
  }
  return result;
}

function describe(error: unknown): string {
  if (error instanceof EggError)
    return error.hint === undefined ? error.message : `${error.message} (${error.hint})`;
  return error instanceof Error ? error.message : String(error);
}
