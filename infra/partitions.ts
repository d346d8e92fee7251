/**
 * The table's partitions and the IAM conditions that pick them. One table, partition key
 * `pk` (docs/dynamodb.md):
 *   `<namespace>`         `S#<name>` secrets, `K#namespace` the namespace KEK
 *   `audit#<namespace>`   `A#<seq>` audit records
 *   `tokens#<namespace>`  `TK#<id>` token records, `RV#head`, `RV#t#<id>` revocations,
 *                         `RV#th#<id>` throttles, `AC#<id>` alert channels, `AL#…` alerts
 *   `usage#<namespace>`   `U#<id>#<window>` per-token usage counters (the proxy writes them)
 *   `anchor#<namespace>`  `C#<seq>` signed audit checkpoints (only the rotator writes here)
 *   `members#<namespace>` `O#owner`, `M#<principal>` the service mode's members (the API writes them)
 *   `principal#<principal>` `N#<namespace>` a member's namespaces (the API writes them)
 *   `calls#<principal>`   `W#<window>` a caller's call counts, `R#last` its last refused
 *                         window (the API's limit per caller; they expire, and only the API writes them)
 *   `tokens##account`     `RV#head` the account-wide kill switch (`egg killswitch --all`):
 *                         every proxy reads it (its `tokens#*` grant), a minting grant may
 *                         only read it, and no grant writes it (an administrator does)
 * A namespace never contains `#` (src/names.ts), so they never collide, and IAM's
 * `dynamodb:LeadingKeys` (the partition key of every item a request touches) can grant
 * each separately: that is what lets a CI role read its secrets without writing them.
 * Must match src/stores/dynamodb.ts, src/tokens/dynamodb-token-store.ts and
 * src/tokens/dynamodb-usage.ts (tests check).
 */

export const AUDIT_PARTITION_PREFIX = 'audit#';
export const TOKEN_PARTITION_PREFIX = 'tokens#';
export const ANCHOR_PARTITION_PREFIX = 'anchor#';
export const USAGE_PARTITION_PREFIX = 'usage#';
export const MEMBERS_PARTITION_PREFIX = 'members#';
export const PRINCIPAL_PARTITION_PREFIX = 'principal#';
export const CALLS_PARTITION_PREFIX = 'calls#';

/** `acme/web` → `audit#acme/web`. */
export const auditPartition = (namespace: string): string => `${AUDIT_PARTITION_PREFIX}${namespace}`;
/** `acme/web` → `anchor#acme/web`. */
export const anchorPartition = (namespace: string): string => `${ANCHOR_PARTITION_PREFIX}${namespace}`;
/** The account-wide revocation head's partition: `#account` can never be a namespace. */
export const ACCOUNT_TOKEN_PARTITION = `${TOKEN_PARTITION_PREFIX}#account`;
/** `acme/web` → `tokens#acme/web`. */
export const tokenPartition = (namespace: string): string => `${TOKEN_PARTITION_PREFIX}${namespace}`;
/** `acme/web` → `usage#acme/web`. */
export const usagePartition = (namespace: string): string => `${USAGE_PARTITION_PREFIX}${namespace}`;

/**
 * Every item the request touches is in one of `partitions`, exactly. `ForAllValues` holds
 * only when each leading key is listed ("Using IAM policy conditions for fine-grained access
 * control", DynamoDB Developer Guide). No statement built from these grants `Scan`, which
 * has no leading key (and for which `ForAllValues` over an empty set would hold).
 */
export function exactPartitions(partitions: string[]): Record<string, Record<string, string[]>> {
  return { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': partitions } };
}

/** Every item the request touches is in some namespace's own partition (no `#` in its key). */
export function namespacePartitions(): Record<string, Record<string, string[]>> {
  return { 'ForAllValues:StringNotLike': { 'dynamodb:LeadingKeys': ['*#*'] } };
}

/** Every item the request touches is in a partition starting with `prefix` (`audit#`, `tokens#`), or one of `more`. */
export function prefixedPartitions(
  prefix: string,
  ...more: string[]
): Record<string, Record<string, string[]>> {
  return { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [prefix, ...more].map((p) => `${p}*`) } };
}
