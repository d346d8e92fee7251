/**
 * The deferred rotator (DESIGN, Crypto): a Lambda on the vault table's stream that
 * re-encrypts, under a fresh data key, every secret a read names, within seconds of the
 * read. A read with `rotation: deferred` only appends `A#<seq>` (action `read`) to
 * `audit#<namespace>`; the stream carries that record here, and the handler rotates its
 * `targets` and appends a `rotate` record (which the filter below does not match, so the
 * rotator never feeds itself). Then it anchors the trail: it signs a checkpoint of the head
 * with the anchor key (`EGG_ANCHOR_KEY_ID`, which only this role may use to `Sign`) and
 * stores it in `anchor#<namespace>`, which only this role may write (src/vault/anchor.ts).
 *
 * The handler is the ncc bundle in `dist/rotator/` (`npm run package`): `index.js` exporting
 * `handler` (an ES module; the directory's package.json says so, and its chunks ride along,
 * since the whole directory is the asset). It reads `EGG_TABLE`, `EGG_KMS_KEY_ID` and
 * `EGG_KEYRING` (and the region from Lambda's `AWS_REGION`), and answers
 * `{ batchItemFailures: [{ itemIdentifier: <dynamodb.SequenceNumber> }] }` ("Using
 * batch item failures with DynamoDB", Lambda Developer Guide).
 *
 * The rotator is trusted with every namespace: `dynamodb:LeadingKeys` cannot name them all
 * in advance, so its role is confined by partition shape instead (namespace partitions for
 * secrets, `audit#*` for the trail), and its key use by the presence of a namespace in the
 * encryption context. SECURITY.md, "The rotator and the proxy".
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EggError } from '../src/errors.js';
import { acceptFinding } from './nag.js';
import {
  ANCHOR_PARTITION_PREFIX,
  AUDIT_PARTITION_PREFIX,
  namespacePartitions,
  prefixedPartitions,
} from './partitions.js';

/** What the rotator does with the items of every namespace: read secrets, write rotations conditionally. */
export const ROTATOR_SECRET_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:PutItem',
] as const;
/** Its audit appends: the head (Query), then the `rotate` record (PutItem). */
export const ROTATOR_AUDIT_ACTIONS = ['dynamodb:Query', 'dynamodb:PutItem'] as const;
/** Its checkpoints: the newest (Query) before it signs the next (PutItem). */
export const ROTATOR_CHECKPOINT_ACTIONS = ['dynamodb:Query', 'dynamodb:PutItem'] as const;
/** Pure Ed25519 over the checkpoint payload, as src/tokens/kms-signer.ts asks. */
export const CHECKPOINT_SIGN_CONDITIONS = {
  StringEquals: { 'kms:SigningAlgorithm': 'ED25519_SHA_512', 'kms:MessageType': 'RAW' },
};
/** What Lambda's poller needs to read the table's stream (Lambda Developer Guide, DynamoDB execution role). */
export const STREAM_READ_ACTIONS = [
  'dynamodb:DescribeStream',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
] as const;
/** Reserved concurrency by default: a bound on how hard a burst of reads can hit KMS and the table. */
export const DEFAULT_ROTATOR_CONCURRENCY = 2;

export type StackKeyring = 'kms' | 'kms-hierarchical';

export interface RotatorProps {
  table: dynamodb.Table;
  key: kms.Key;
  /** The Ed25519 key the rotator signs audit checkpoints with. */
  anchorKey: kms.Key;
  /** The RSA key that unseals sealed provider keys (docs/sealed-keys.md): the rotator moves them under the keyring. */
  sealingKey: kms.Key;
  keyring: StackKeyring;
  /** The directory holding the bundle's `index.js`. */
  codePath: string;
  /** Reserved concurrent executions (also the most stream shards served at once), or `false` for none. */
  reservedConcurrency: number | false;
  /** The role side of using the table (encrypted at rest with `key`) through DynamoDB. */
  grantTableEncryption: (role: iam.Role) => void;
}

export class Rotator extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly failures: sqs.Queue;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: RotatorProps) {
    super(scope, id);
    const { table, key, anchorKey } = props;
    if (!existsSync(join(props.codePath, 'index.js')))
      throw new EggError(
        'ERR_NOT_INITIALIZED',
        `the rotator is not built: ${join(props.codePath, 'index.js')} is missing`,
        { hint: 'run `npm run package` first (it bundles dist/rotator/), or pass --rotator-code DIR' },
      );
    const streamArn = table.tableStreamArn;
    if (streamArn === undefined) throw new TypeError('the rotator needs the table stream');

    this.role = new iam.Role(this, 'Role', {
      description: 'Egg Carton rotator: re-encrypts secrets read with rotation deferred, in every namespace',
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SecretItems',
        actions: [...ROTATOR_SECRET_ACTIONS],
        resources: [table.tableArn],
        conditions: namespacePartitions(),
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'AuditAppend',
        actions: [...ROTATOR_AUDIT_ACTIONS],
        resources: [table.tableArn],
        conditions: prefixedPartitions(AUDIT_PARTITION_PREFIX),
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'CheckpointWrite',
        actions: [...ROTATOR_CHECKPOINT_ACTIONS],
        resources: [table.tableArn],
        conditions: prefixedPartitions(ANCHOR_PARTITION_PREFIX),
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TableStream',
        actions: [...STREAM_READ_ACTIONS],
        resources: [streamArn],
      }),
    );
    // ListStreams names no stream (Service Authorization Reference: no resource type).
    this.role.addToPolicy(
      new iam.PolicyStatement({ sid: 'ListStreams', actions: ['dynamodb:ListStreams'], resources: ['*'] }),
    );
    acceptFinding(
      this.role,
      'IAM5[Resource::*]',
      'dynamodb:ListStreams names no stream (Service Authorization Reference: no resource type), so it can only be granted on *; it lists stream ARNs, never data',
    );
    const keyUse = {
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      // Only data keys and KEKs made for some namespace: every one names it in its context.
      conditions: { Null: { 'kms:EncryptionContext:namespace': 'false' } },
    };
    this.role.addToPolicy(new iam.PolicyStatement({ sid: 'DataKeys', resources: [key.keyArn], ...keyUse }));
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'Rotator',
        principals: [new iam.AccountRootPrincipal()],
        actions: keyUse.actions,
        resources: ['*'],
        conditions: { ...keyUse.conditions, ArnEquals: { 'aws:PrincipalArn': this.role.roleArn } },
      }),
    );
    props.grantTableEncryption(this.role);
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SignCheckpoints',
        actions: ['kms:Sign'],
        resources: [anchorKey.keyArn],
        conditions: CHECKPOINT_SIGN_CONDITIONS,
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'AnchorPublicKey',
        actions: ['kms:GetPublicKey'],
        resources: [anchorKey.keyArn],
      }),
    );
    anchorKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'RotatorSignsCheckpoints',
        principals: [new iam.AccountRootPrincipal()],
        actions: ['kms:Sign'],
        resources: ['*'],
        conditions: {
          ...CHECKPOINT_SIGN_CONDITIONS,
          ArnEquals: { 'aws:PrincipalArn': this.role.roleArn },
        },
      }),
    );

    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.THREE_MONTHS });
    this.logGroup.grantWrite(this.role);

    this.function = new lambda.Function(this, 'Function', {
      description: 'Egg Carton: re-encrypts every secret read with rotation deferred (issue 5)',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(props.codePath),
      role: this.role,
      memorySize: 512,
      timeout: Duration.seconds(60),
      logGroup: this.logGroup,
      ...(props.reservedConcurrency === false
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrency }),
      environment: {
        EGG_BACKEND: 'aws',
        EGG_TABLE: table.tableName,
        EGG_KMS_KEY_ID: key.keyArn,
        EGG_KEYRING: props.keyring,
        EGG_ANCHOR_KEY_ID: anchorKey.keyArn,
        EGG_SEALING_KEY_ID: props.sealingKey.keyArn,
      },
    });

    // A batch that still fails after the retries lands here as a pointer (shard and sequence
    // numbers, never item data), so a skipped rotation is visible rather than silently dropped.
    this.failures = new sqs.Queue(this, 'Failures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acceptFinding(
      this.failures,
      'SQS3',
      'this queue is itself the dead-letter destination: the stream mapping sends a batch that failed every retry here (onFailure), and nothing consumes it but an operator',
    );
    this.function.addEventSourceMapping('TableStream', {
      eventSourceArn: streamArn,
      startingPosition: lambda.StartingPosition.LATEST,
      batchSize: 100,
      // Seconds matter (DESIGN: "within seconds"): wait at most 1 s to fill a batch.
      maxBatchingWindow: Duration.seconds(1),
      reportBatchItemFailures: true,
      bisectBatchOnError: true,
      retryAttempts: 5,
      maxRecordAge: Duration.hours(1),
      onFailure: new SqsDlq(this.failures),
      // Only new `read` audit records: not secrets, not tokens, not the rotator's own
      // `rotate` records ("Lambda event filtering", Lambda Developer Guide).
      filters: [
        lambda.FilterCriteria.filter({
          eventName: lambda.FilterRule.isEqual('INSERT'),
          dynamodb: {
            NewImage: {
              pk: { S: lambda.FilterRule.beginsWith(AUDIT_PARTITION_PREFIX) },
              action: { S: lambda.FilterRule.isEqual('read') },
            },
          },
        }),
      ],
    });
  }
}
