/**
 * Lambda's DynamoDB event source mapping, emulated against DynamoDB Local's real Streams
 * API: read the table's stream from LATEST, keep the records the infra/ filter keeps (audit
 * partitions, `action` = read), hand them to the handler in batches, and deliver again
 * from the lowest reported failure, as ReportBatchItemFailures does.
 *
 * The Streams API is spoken over fetch (the SDK's DynamoDB Streams client is not in the
 * registry mirror at our SDK version); DynamoDB Local does not check signatures.
 */
import type { BatchResponse, StreamEvent, StreamRecord } from '../../src/rotator/lambda.js';

/** One JSON 1.0 call: `target` is `DynamoDBStreams_20120810.GetRecords`, `DynamoDB_20120810.DescribeTable`, … */
async function call<T>(endpoint: string, target: string, body: object): Promise<T> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': target,
      authorization:
        'AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00',
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${target}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

const streams = <T>(endpoint: string, operation: string, body: object) =>
  call<T>(endpoint, `DynamoDBStreams_20120810.${operation}`, body);

async function describeTable(endpoint: string, table: string): Promise<string> {
  const { Table } = await call<{ Table?: { LatestStreamArn?: string } }>(
    endpoint,
    'DynamoDB_20120810.DescribeTable',
    { TableName: table },
  );
  if (Table?.LatestStreamArn === undefined) throw new Error(`table ${table} has no stream`);
  return Table.LatestStreamArn;
}

/** The infra/ event source mapping's filter: audit read records only. */
export function matchesRotatorFilter(record: StreamRecord): boolean {
  const image = record.dynamodb?.NewImage;
  return (
    record.eventName === 'INSERT' &&
    (image?.pk?.S?.startsWith('audit#') ?? false) &&
    image?.action?.S === 'read'
  );
}

export interface StreamPoller {
  /** Batches delivered to the handler so far. */
  readonly batches: StreamRecord[][];
  stop(): Promise<void>;
}

/**
 * Start polling `table`'s stream from now on (every `intervalMs`, as Lambda's pollers do a
 * few times a second), invoking `handler` with each non-empty filtered batch.
 */
export async function pollStream(
  endpoint: string,
  table: string,
  handler: (event: StreamEvent) => Promise<BatchResponse>,
  options: { intervalMs?: number; maxRedeliveries?: number } = {},
): Promise<StreamPoller> {
  const streamArn = await describeTable(endpoint, table);
  const { StreamDescription } = await streams<{
    StreamDescription: {
      Shards: { ShardId: string; SequenceNumberRange?: { EndingSequenceNumber?: string } }[];
    };
  }>(endpoint, 'DescribeStream', { StreamArn: streamArn });
  const iterators = new Map<string, string>();
  for (const shard of StreamDescription.Shards) {
    if (shard.SequenceNumberRange?.EndingSequenceNumber !== undefined) continue;
    const { ShardIterator } = await streams<{ ShardIterator: string }>(endpoint, 'GetShardIterator', {
      StreamArn: streamArn,
      ShardId: shard.ShardId,
      ShardIteratorType: 'LATEST',
    });
    iterators.set(shard.ShardId, ShardIterator);
  }
  const batches: StreamRecord[][] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const [shard, iterator] of iterators) {
        const { Records, NextShardIterator } = await streams<{
          Records: StreamRecord[];
          NextShardIterator?: string;
        }>(endpoint, 'GetRecords', { ShardIterator: iterator, Limit: 100 });
        if (NextShardIterator === undefined) iterators.delete(shard);
        else iterators.set(shard, NextShardIterator);
        let pending = Records.filter(matchesRotatorFilter);
        for (let delivery = 0; pending.length > 0 && delivery <= (options.maxRedeliveries ?? 3); delivery++) {
          batches.push(pending);
          const { batchItemFailures } = await handler({ Records: pending });
          const failed = new Set(batchItemFailures.map((f) => f.itemIdentifier));
          const first = pending.findIndex((r) => failed.has(r.dynamodb?.SequenceNumber ?? ''));
          pending = first === -1 ? [] : pending.slice(first);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 100));
    }
  })();
  return {
    batches,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}
