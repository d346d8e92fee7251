/**
 * The deferred rotator as an AWS Lambda on the vault table's stream (infra/stack.ts wires
 * it, filtered to audit read records). Each batch is grouped by namespace, and each
 * namespace's secrets that were read are re-encrypted once under fresh data keys. A
 * namespace whose rotation fails reports its records as batch item failures, so Lambda
 * retries from there (ReportBatchItemFailures); every other record counts as done.
 *
 * Configuration is the CLI's: EGG_TABLE, EGG_KMS_KEY_ID, EGG_KEYRING, and the region from
 * AWS_REGION; credentials are the function role's. Logs carry names and counts, never values.
 */
import { resolveConfig } from '../config.js';
import { errorLabel } from '../errors.js';
import { jsonLogger, type Logger } from '../log.js';
import type { Backend } from '../open.js';
import { AUDIT_PARTITION_PREFIX } from '../stores/dynamodb.js';
import { type RotationCounts, Vault } from '../vault/vault.js';
import { readsToRotate } from './reads.js';

type Image = Record<string, { S?: string; L?: { S?: string }[] } | undefined>;

/** The fields of a DynamoDB Streams record this handler reads. */
export interface StreamRecord {
  eventName?: string;
  dynamodb?: { NewImage?: Image; SequenceNumber?: string };
}

export interface StreamEvent {
  Records?: StreamRecord[];
}

export interface BatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

/** A read record as the stream carries it, or undefined for anything else (skipped, not retried). */
function readRecord(record: StreamRecord) {
  const image = record.dynamodb?.NewImage;
  const pk = image?.pk?.S;
  if (record.eventName !== 'INSERT' || pk === undefined || !pk.startsWith(AUDIT_PARTITION_PREFIX)) {
    return undefined;
  }
  const targets = image?.targets?.L;
  return {
    namespace: pk.slice(AUDIT_PARTITION_PREFIX.length),
    action: image?.action?.S ?? '',
    outcome: image?.outcome?.S ?? '',
    targets: (targets ?? []).flatMap((t) => (t.S === undefined ? [] : [t.S])),
  };
}

export interface RotatorOptions {
  /** Opened once per container and reused across invocations. */
  openBackend: () => Promise<Backend>;
  actor: string;
  logger: Logger;
}

export function createHandler(options: RotatorOptions): (event: StreamEvent) => Promise<BatchResponse> {
  let backend: Promise<Backend> | undefined;
  return async (event) => {
    backend ??= options.openBackend().catch((error: unknown) => {
      backend = undefined;
      throw error;
    });
    const { store, keyring } = await backend;
    const records = event.Records ?? [];
    const sequences = new Map<string, string[]>();
    const reads = [];
    for (const record of records) {
      const read = readRecord(record);
      if (read === undefined) continue;
      reads.push(read);
      const sequence = record.dynamodb?.SequenceNumber;
      if (sequence !== undefined)
        sequences.set(read.namespace, [...(sequences.get(read.namespace) ?? []), sequence]);
    }
    const failures: { itemIdentifier: string }[] = [];
    await Promise.all(
      [...readsToRotate(reads)].map(async ([namespace, names]) => {
        const vault = new Vault({ store, keyring, namespace, actor: options.actor, logger: options.logger });
        let counts: RotationCounts | undefined;
        try {
          counts = await vault.rotate([...names]);
        } catch (error) {
          options.logger.warn('rotator.failed', { namespace, secrets: names.size, error: errorLabel(error) });
        }
        if (counts !== undefined) options.logger.info('rotator.rotated', { namespace, ...counts });
        if (counts === undefined || counts.failed > 0) {
          for (const itemIdentifier of sequences.get(namespace) ?? []) failures.push({ itemIdentifier });
        }
      }),
    );
    return { batchItemFailures: failures };
  };
}

const lambdaLogger = jsonLogger({ write: (line) => process.stdout.write(line) });

/** The deployed handler: the aws backend from the function's environment. */
export const handler = createHandler({
  openBackend: async () => {
    const config = resolveConfig({ flags: { backend: 'aws' }, env: process.env, cwd: '/', home: '/tmp/egg' });
    const { openAwsBackend } = await import('../aws/backend.js');
    return openAwsBackend(config, { logger: lambdaLogger });
  },
  actor: `rotator:${process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'lambda'}`,
  logger: lambdaLogger,
});
