/**
 * The deferred rotator as an AWS Lambda on the vault table's stream (infra/stack.ts wires
 * it, filtered to audit read records). Each batch is grouped by namespace, and each
 * namespace's secrets that were read are re-encrypted once under fresh data keys. A
 * namespace whose rotation fails reports its records as batch item failures, so Lambda
 * retries from there (ReportBatchItemFailures); every other record counts as done.
 *
 * After each namespace's rotation it anchors that namespace's trail: one checkpoint of the
 * head per batch, signed with the anchor key (src/vault/anchor.ts), which only this
 * function's role may use. A checkpoint that fails is logged, never retried as a batch
 * failure (that would rotate again); the next batch anchors the head.
 *
 * Configuration is the CLI's: EGG_TABLE, EGG_KMS_KEY_ID, EGG_KEYRING, EGG_ANCHOR_KEY_ID, and
 * the region from AWS_REGION; credentials are the function role's. Logs carry names, counts
 * and sequence numbers, never values.
 */
import { resolveConfig } from '../config.js';
import { EggError, errorLabel } from '../errors.js';
import { jsonLogger, type Logger } from '../log.js';
import type { Backend } from '../backends/backend.js';
import { AUDIT_PARTITION_PREFIX } from '../stores/dynamodb.js';
import type { CheckpointSigner } from '../vault/anchor.js';
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

type RotatorBackend = Pick<Backend, 'store' | 'keyring'> & Partial<Pick<Backend, 'sealing'>>;

export interface RotatorOptions {
  /** Opened once per container and reused across invocations; `sealing` moves sealed provider keys under the keyring. */
  openBackend: () => Promise<RotatorBackend>;
  /** The anchor key's signer, opened once per container; undefined: the trail is not anchored. */
  openAnchor?: () => Promise<CheckpointSigner | undefined>;
  actor: string;
  logger: Logger;
}

export function createHandler(options: RotatorOptions): (event: StreamEvent) => Promise<BatchResponse> {
  let backend: Promise<RotatorBackend> | undefined;
  let anchor: Promise<CheckpointSigner | undefined> | undefined;
  return async (event) => {
    backend ??= options.openBackend().catch((error: unknown) => {
      backend = undefined;
      throw error;
    });
    anchor ??= (options.openAnchor?.() ?? Promise.resolve(undefined)).catch((error: unknown) => {
      anchor = undefined;
      options.logger.warn('rotator.anchor-unavailable', { error: errorLabel(error) });
      return undefined;
    });
    const [{ store, keyring, sealing }, signer] = await Promise.all([backend, anchor]);
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
        const vault = new Vault({
          store,
          keyring,
          ...(sealing === undefined ? {} : { sealing }),
          namespace,
          actor: options.actor,
          logger: options.logger,
        });
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
        if (signer !== undefined) await anchorTrail(vault, signer, options.logger);
      }),
    );
    return { batchItemFailures: failures };
  };
}

/** Sign a checkpoint of the namespace's head; a refusal (a tampered trail) is logged as a warning. */
async function anchorTrail(vault: Vault, signer: CheckpointSigner, logger: Logger): Promise<void> {
  try {
    const result = await vault.checkpoint(signer);
    if (result?.created)
      logger.info('rotator.anchored', { namespace: vault.namespace, seq: result.checkpoint.seq });
  } catch (error) {
    logger.warn('rotator.checkpoint-failed', {
      namespace: vault.namespace,
      error: errorLabel(error),
      ...(error instanceof EggError && error.code === 'ERR_AUDIT_BROKEN' ? { reason: error.message } : {}),
    });
  }
}

const lambdaLogger = jsonLogger({ write: (line) => process.stdout.write(line) });

/** The deployed handler: the aws backend from the function's environment. */
const lambdaConfig = () =>
  resolveConfig({ flags: { backend: 'aws' }, env: process.env, cwd: '/', home: '/tmp/egg' });

const lambdaActor = `rotator:${process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'lambda'}`;

/** The function's backend, opened once per container: its role's credentials for every client. */
let deployed: Promise<Backend> | undefined;
const lambdaBackend = () => {
  deployed ??= import('../backends/aws.js').then(({ openAwsBackend }) =>
    openAwsBackend(lambdaConfig(), { actor: lambdaActor }, { logger: lambdaLogger }),
  );
  deployed.catch(() => {
    deployed = undefined;
  });
  return deployed;
};

export const handler = createHandler({
  openBackend: lambdaBackend,
  openAnchor: async () => {
    const signer = await (await lambdaBackend()).anchorSigner();
    if (signer === undefined) lambdaLogger.warn('rotator.no-anchor-key', { setting: 'EGG_ANCHOR_KEY_ID' });
    return signer;
  },
  actor: lambdaActor,
  logger: lambdaLogger,
});
