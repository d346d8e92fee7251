/**
 * The AWS client factory: endpoints from the SDK's own AWS_ENDPOINT_URL_<SERVICE>, one
 * attempt per call (our retry() decides), enough keep-alive sockets for a pull of 100 at
 * concurrency 128, and a call observer for the benchmark.
 */
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ListKeysCommand } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { CallCounter, createDynamoDbClient, createKmsClient } from '../../src/aws/clients.js';
import { useTestAws } from '../support/aws.js';
import { startFakeAws } from '../support/fake-aws.js';

describe('AWS clients', () => {
  it('reach DynamoDB Local and moto through AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_KMS alone', async () => {
    useTestAws();
    const counter = new CallCounter();
    const dynamodb = await createDynamoDbClient({ onCall: counter.onCall });
    const kms = await createKmsClient({ onCall: counter.onCall });
    expect((await dynamodb.send(new ListTablesCommand({}))).TableNames).toEqual(expect.any(Array));
    expect((await kms.send(new ListKeysCommand({}))).Keys).toEqual(expect.any(Array));
    await kms.send(new ListKeysCommand({}));
    expect([counter.count('dynamodb'), counter.count('kms'), counter.count('kms.ListKeys')]).toEqual([
      1, 2, 2,
    ]);
    counter.reset();
    expect(counter.count('kms')).toBe(0);
    dynamodb.destroy();
    kms.destroy();
  });

  it('make exactly one attempt per call: retries are ours, not the SDK’s', async () => {
    const fake = await startFakeAws(() => ({ error: 'ThrottlingException', status: 400 }));
    const kms = await createKmsClient({ endpoint: fake.endpoint, region: 'us-east-1' });
    await expect(kms.send(new ListKeysCommand({}))).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect(fake.requests).toHaveLength(1);
    kms.destroy();
    await fake.close();
  });

  it('run 100 requests at once over keep-alive sockets (maxSockets ≥ 256)', async () => {
    let release: () => void = () => {};
    const allArrived = new Promise<void>((resolve) => {
      release = resolve;
    });
    const fake = await startFakeAws(async (_request, i) => {
      if (i === 99) release();
      // Hold every answer until all 100 requests are in flight: only possible with ≥ 100 sockets.
      await Promise.race([allArrived, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      return { body: { TableNames: [] } };
    });
    const dynamodb = await createDynamoDbClient({ endpoint: fake.endpoint, region: 'us-east-1' });
    const started = Date.now();
    await Promise.all(Array.from({ length: 100 }, () => dynamodb.send(new ListTablesCommand({}))));
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(fake.connections()).toBe(100);
    // Keep-alive: the next 100 reuse those sockets.
    await Promise.all(Array.from({ length: 100 }, () => dynamodb.send(new ListTablesCommand({}))));
    expect(fake.connections()).toBe(100);
    dynamodb.destroy();
    await fake.close();
  });
});
