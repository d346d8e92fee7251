/**
 * Who may write the table's TTL attribute. DynamoDB deletes an item some time after its
 * `expiresAt` (epoch seconds) has passed, with no caller of ours and no audit record; so
 * writing `expiresAt` is deleting (issue 9, item 15). Token records and revocations carry it
 * (docs/tokens.md) and only a minting role, in its own `tokens#<namespace>`, may write it.
 *
 * Every role but those token writes gets two explicit denies on the table, so no Allow added
 * later (a new partition, another slice's statement) can reopen the hole:
 * - `NoTtlWrites`: a PutItem or UpdateItem any of whose attributes is `expiresAt`.
 *   `dynamodb:Attributes` holds the top-level names a request names: the item's, the
 *   updates', and those in its expressions, placeholders resolved ("Using IAM policy
 *   conditions for fine-grained access control", DynamoDB Developer Guide: its example
 *   "prevent updates on certain attributes" is this check on UpdateItem);
 * - `NoUnnamedWrites`: a PutItem or UpdateItem whose request carries no `dynamodb:Attributes`
 *   at all. `ForAnyValue` is false on a missing key (and `ForAllValues` true), so a request
 *   shape for which AWS does not compute the key (AWS documents none for the items of
 *   `TransactWriteItems`, which are authorized as PutItem and UpdateItem) would otherwise
 *   slip past the first deny: it is refused instead. No writer of ours puts or updates items in
 *   a transaction (`rm` deletes in one: DeleteItem, which neither deny covers).
 * A minting role's denies exclude its own token partition (`ForAnyValue:StringNotEquals` on
 * `dynamodb:LeadingKeys`: some item of the request is elsewhere), and the proxy's exclude the
 * usage partitions (`usage#*`), where it writes per-token counters that expire after a day
 * (src/tokens/dynamodb-usage.ts) and nothing else lives: it can reap counters, never a
 * token record or a revocation. The service's API's exclude its token partitions and its
 * call counters (`calls#*`, src/api/throttle.ts), which expire a day after their window and
 * hold nothing else: it can reap a caller's count early, which at worst lets that caller
 * through again, never a record of the trail.
 *
 * The service's API (infra/service.ts) writes the members of a namespace with transactions
 * (src/stores/dynamodb.ts `#transact`: the owner's lock, the member and its reverse item
 * change together). Its `NoUnnamedWrites` therefore also excludes the partitions named
 * `transactional` (`members#*`, `principal#*`), and nothing else: an unnamed write to an
 * audit trail, a checkpoint or a secret stays refused. Such a transaction item could carry
 * `expiresAt` into a membership unseen, which is no more than that role's DeleteItem there.
 *
 * Not covered, because no role is granted them: BatchWriteItem and the PartiQL actions.
 */
import * as iam from 'aws-cdk-lib/aws-iam';

/** Must match src/stores/dynamodb.ts `TTL_ATTRIBUTE` and the table's TTL setting (a test checks). */
export const TTL_ATTRIBUTE = 'expiresAt';
/** The actions that write attributes of an item (DeleteItem removes the item, writes none). */
export const ATTRIBUTE_WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:UpdateItem'] as const;

/**
 * Adds the two denies to `role` for `tableArn`; `writable` is where the role may write
 * `expiresAt`, if anywhere: one partition (a minting grant's `tokens#<namespace>`) or the
 * partitions under some prefixes (the proxy's `usage#`; the service API's `tokens#` and
 * `calls#`); `transactional`, the prefixes of further partitions where it may make
 * transaction items (the service API's `members#`, `principal#`).
 * @example denyTtlWrites(role, table.tableArn, mintTokens ? { partition: tokenPartition(namespace) } : undefined)
 */
export function denyTtlWrites(
  role: iam.IRole,
  tableArn: string,
  writable?: { partition: string } | { prefixes: readonly string[] },
  transactional?: readonly string[],
): void {
  const elsewhere =
    writable === undefined
      ? {}
      : 'partition' in writable
        ? { 'ForAnyValue:StringNotEquals': { 'dynamodb:LeadingKeys': [writable.partition] } }
        : { 'ForAnyValue:StringNotLike': { 'dynamodb:LeadingKeys': writable.prefixes.map((p) => `${p}*`) } };
  // Transaction items (no attributes named) also in the `transactional` partitions: only
  // beside a writable prefix, so the deny below can name them all in one StringNotLike.
  let unnamedElsewhere: Record<string, Record<string, string[]>> = elsewhere;
  if (transactional !== undefined) {
    if (writable === undefined || 'partition' in writable)
      throw new TypeError('transactional partitions go with a writable prefix');
    const prefixes = [...writable.prefixes, ...transactional];
    unnamedElsewhere = {
      'ForAnyValue:StringNotLike': { 'dynamodb:LeadingKeys': prefixes.map((p) => `${p}*`) },
    };
  }
  const deny = (
    sid: string,
    condition: Record<string, Record<string, string | string[]>>,
    where: Record<string, Record<string, string[]>>,
  ) =>
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid,
        effect: iam.Effect.DENY,
        actions: [...ATTRIBUTE_WRITE_ACTIONS],
        resources: [tableArn],
        conditions: { ...condition, ...where },
      }),
    );
  deny('NoTtlWrites', { 'ForAnyValue:StringEquals': { 'dynamodb:Attributes': [TTL_ATTRIBUTE] } }, elsewhere);
  deny('NoUnnamedWrites', { Null: { 'dynamodb:Attributes': 'true' } }, unnamedElsewhere);
}
