/**
 * The one module that builds AWS SDK clients (STYLE, Shape). Every client:
 * - makes one attempt per call (`maxAttempts: 1`): `retry()` in src/retry.ts decides per
 *   error and backs off with full jitter, so the SDK must not retry underneath it;
 * - keeps connections alive, with enough sockets for a pull of 100 at concurrency 128;
 * - takes its endpoint from the SDK's own `AWS_ENDPOINT_URL_<SERVICE>` / `AWS_ENDPOINT_URL`
 *   ("Service-specific endpoints", AWS SDKs and Tools Reference Guide), which the v3 SDK
 *   reads natively, so DynamoDB Local and moto need no code path of their own.
 *
 * The SDK packages are imported when a client is built, not when this module loads, so a
 * command that needs only DynamoDB never loads KMS.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SNSClient } from '@aws-sdk/client-sns';

export type AwsService = 'dynamodb' | 'kms' | 'sns' | 'events';

/** One request sent to AWS: each attempt of `retry()` counts as one. */
export interface AwsCall {
  service: AwsService;
  /** The API operation, e.g. "BatchGetItem", "GenerateDataKey". */
  operation: string;
}

export interface AwsClientOptions {
  /** Region; when undefined the SDK's chain decides (AWS_REGION, the profile). */
  region?: string | undefined;
  /** Called for every request sent; the benchmark counts calls per service with it. */
  onCall?: ((call: AwsCall) => void) | undefined;
  /** Most connections per host; at least the vault's concurrency. */
  maxSockets?: number;
  /** Overrides the endpoint (loopback fakes in tests); otherwise the SDK's AWS_ENDPOINT_URL_* apply. */
  endpoint?: string | undefined;
  /** Temporary credentials (the Action's STS session), or a provider the SDK calls again before they expire; otherwise the SDK's default chain. */
  credentials?: AwsCredentials | AwsCredentialsProvider | undefined;
}

/** Static temporary credentials, as STS returns them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/**
 * Credentials fetched on demand (an `egg login` session): the SDK memoizes them and calls
 * again when they are within five minutes of `expiration`.
 */
export type AwsCredentialsProvider = () => Promise<AwsCredentials>;

/** Enough for a pull of 100 secrets at concurrency 128: an unwrap and a fresh data key per secret in flight at once. */
export const DEFAULT_MAX_SOCKETS = 256;

/** Shared by both clients: one attempt, keep-alive sockets, bounded connect and request times. */
function baseConfig(options: AwsClientOptions) {
  const agent = { keepAlive: true, maxSockets: options.maxSockets ?? DEFAULT_MAX_SOCKETS };
  return {
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    maxAttempts: 1,
    requestHandler: { httpAgent: agent, httpsAgent: agent, connectionTimeout: 5_000, requestTimeout: 30_000 },
  };
}

/** A `finalizeRequest` middleware reporting each request just before it goes on the wire. */
function observer(service: AwsService, onCall: (call: AwsCall) => void) {
  return <A, O>(next: (args: A) => Promise<O>, context: { commandName?: string }) =>
    async (args: A): Promise<O> => {
      onCall({ service, operation: (context.commandName ?? 'Unknown').replace(/Command$/, '') });
      return next(args);
    };
}

const OBSERVER = { step: 'finalizeRequest', name: 'eggCallObserver', priority: 'low' } as const;

/** A low-level DynamoDB client (no lib-dynamodb: the marshalling we need is a few lines). */
export async function createDynamoDbClient(options: AwsClientOptions = {}): Promise<DynamoDBClient> {
  const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
  const client = new DynamoDBClient(baseConfig(options));
  if (options.onCall !== undefined)
    client.middlewareStack.add(observer('dynamodb', options.onCall), OBSERVER);
  return client;
}

export async function createKmsClient(options: AwsClientOptions = {}): Promise<KMSClient> {
  const { KMSClient } = await import('@aws-sdk/client-kms');
  const client = new KMSClient(baseConfig(options));
  if (options.onCall !== undefined) client.middlewareStack.add(observer('kms', options.onCall), OBSERVER);
  return client;
}

/** SNS, for alert channels (alerts/aws-channels.ts): built only when an alert goes to a topic. */
export async function createSnsClient(options: AwsClientOptions = {}): Promise<SNSClient> {
  const { SNSClient } = await import('@aws-sdk/client-sns');
  const client = new SNSClient(baseConfig(options));
  if (options.onCall !== undefined) client.middlewareStack.add(observer('sns', options.onCall), OBSERVER);
  return client;
}

/** EventBridge, for alert channels: built only when an alert goes to an event bus. */
export async function createEventBridgeClient(options: AwsClientOptions = {}): Promise<EventBridgeClient> {
  const { EventBridgeClient } = await import('@aws-sdk/client-eventbridge');
  const client = new EventBridgeClient(baseConfig(options));
  if (options.onCall !== undefined) client.middlewareStack.add(observer('events', options.onCall), OBSERVER);
  return client;
}

/**
 * Counts requests per service and operation; pass its `onCall` to the client options.
 * @example
 * const counter = new CallCounter();
 * const kms = await createKmsClient({ onCall: counter.onCall });
 * // … counter.count('kms')
 */
export class CallCounter {
  readonly #counts = new Map<string, number>();

  readonly onCall = (call: AwsCall): void => {
    for (const key of [call.service, `${call.service}.${call.operation}`]) {
      this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    }
  };

  /** Requests to `service`, or to one operation with "kms.Decrypt". */
  count(key: AwsService | `${AwsService}.${string}`): number {
    return this.#counts.get(key) ?? 0;
  }

  reset(): void {
    this.#counts.clear();
  }
}
