/**
 * Deferred rotation: the time from a read's return to its secret being re-encrypted under a
 * fresh data key, p50 / p99.
 * - local: a deferred reader in this process, `egg rotate --follow` (the built CLI) as a
 *   separate process polling the SQLite audit trail;
 * - aws: a deferred reader against DynamoDB Local + moto's KMS, and the rotator Lambda's
 *   handler fed by DynamoDB Local's real stream through an emulated event source mapping
 *   that polls as Lambda's does (four times a second per shard).
 * Each figure is also given as a multiple of its poll interval, the part a deployment chooses.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { openAwsBackend } from '../src/backends/aws.js';
import { createDynamoDbClient, createKmsClient } from '../src/aws/clients.js';
import { resolveConfig } from '../src/config.js';
import { nullLogger } from '../src/log.js';
import { openLocalBackend } from '../src/backends/local.js';
import { createHandler } from '../src/rotator/lambda.js';
import { createTable } from '../src/stores/dynamodb.js';
import type { SecretStore } from '../src/stores/store.js';
import { Vault } from '../src/vault/vault.js';
import { pollStream } from '../test/support/dynamodb-streams.js';
import { startEmulators } from './support/emulators.js';
import { percentile } from './support/measure.js';

export interface RotateRow {
  backend: string;
  intervalMs: number;
  p50: number;
  p99: number;
  trials: number;
}

const EGG_BIN = new URL('../cli/bin/egg.js', import.meta.url).pathname;
const LOCAL_INTERVAL_MS = 50;
/** Lambda polls each stream shard four times a second ("Using AWS Lambda with DynamoDB"). */
const LAMBDA_POLL_MS = 250;

/**
 * Read `name` deferred, then time until the stored generation moves past the one read. A
 * random pause first, so reads do not fall in step with the rotator's polls.
 */
async function readToRotated(
  reader: Vault,
  store: SecretStore,
  name: string,
  intervalMs: number,
): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, Math.random() * intervalMs));
  const { secrets } = await reader.pull([name]);
  const start = performance.now();
  const gen = secrets[0]?.gen ?? 0;
  for (const secret of secrets) secret.value.fill(0);
  for (;;) {
    const [item] = await store.getSecrets(reader.namespace, [name]);
    if ((item?.gen ?? 0) > gen) return performance.now() - start;
    if (performance.now() - start > 30_000) throw new Error(`${name} was not rotated within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

async function benchLocal(trials: number): Promise<RotateRow> {
  const home = mkdtempSync(join(tmpdir(), 'egg-bench-rotate-'));
  const env = { ...process.env, EGG_HOME: home, EGG_NAMESPACE: 'bench/rotate' };
  const backend = openLocalBackend(home, { create: true });
  let follower: ChildProcess | undefined;
  try {
    const admin = new Vault({ ...backend, namespace: 'bench/rotate', actor: 'bench' });
    for (let i = 0; i < 10; i++) await admin.set(`SECRET_${i}`, randomBytes(32));
    follower = spawn(
      process.execPath,
      [EGG_BIN, 'rotate', '--follow', '--interval', String(LOCAL_INTERVAL_MS), '--json'],
      { env, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    // The startup pass is its first line; after that, every read is followed.
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: follower?.stdout as NonNullable<ChildProcess['stdout']> }).once('line', () =>
        resolve(),
      );
      follower?.once('exit', (code) => reject(new Error(`egg rotate --follow exited ${code}`)));
    });
    const reader = new Vault({ ...backend, namespace: 'bench/rotate', actor: 'bench', rotation: 'deferred' });
    const times: number[] = [];
    for (let i = 0; i < trials; i++)
      times.push(await readToRotated(reader, backend.store, `SECRET_${i % 10}`, LOCAL_INTERVAL_MS));
    return row('local (egg rotate --follow)', LOCAL_INTERVAL_MS, times);
  } finally {
    follower?.kill('SIGTERM');
    backend.keyring.close();
    await backend.store.close();
    rmSync(home, { recursive: true, force: true });
  }
}

async function benchAws(trials: number): Promise<RotateRow> {
  const emulators = await startEmulators();
  const { dynamo, moto } = emulators;
  process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
  process.env.AWS_ENDPOINT_URL_KMS = moto.endpoint;
  try {
    const table = 'egg-bench-rotate';
    const ddb = await createDynamoDbClient();
    await createTable(ddb, table);
    ddb.destroy();
    const kms = await createKmsClient();
    const key = await kms.send(new CreateKeyCommand({ Description: 'egg bench rotate' }));
    kms.destroy();
    const config = resolveConfig({
      flags: {
        backend: 'aws',
        namespace: 'bench/rotate',
        table,
        kmsKeyId: key.KeyMetadata?.Arn,
        region: 'us-east-1',
      },
      env: {},
      cwd: '/',
      home: '/nonexistent',
    });
    const backend = await openAwsBackend(config, { actor: 'bench' }, { logger: nullLogger });
    const admin = new Vault({ ...backend, namespace: 'bench/rotate', actor: 'bench' });
    for (let i = 0; i < 10; i++) await admin.set(`SECRET_${i}`, randomBytes(32));
    const handler = createHandler({
      openBackend: () => openAwsBackend(config, { actor: 'bench' }, { logger: nullLogger }),
      actor: 'rotator:bench',
      logger: nullLogger,
    });
    const poller = await pollStream(dynamo.endpoint, table, handler, { intervalMs: LAMBDA_POLL_MS });
    try {
      const reader = new Vault({
        ...backend,
        namespace: 'bench/rotate',
        actor: 'bench',
        rotation: 'deferred',
      });
      const times: number[] = [];
      for (let i = 0; i < trials; i++)
        times.push(await readToRotated(reader, backend.store, `SECRET_${i % 10}`, LAMBDA_POLL_MS));
      return row('aws (stream → rotator Lambda handler)', LAMBDA_POLL_MS, times);
    } finally {
      await poller.stop();
      backend.keyring.close();
      await backend.store.close();
    }
  } finally {
    await emulators.stop();
  }
}

function row(backend: string, intervalMs: number, times: number[]): RotateRow {
  return {
    backend,
    intervalMs,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    trials: times.length,
  };
}

export async function benchRotate(options: { quick: boolean }): Promise<RotateRow[]> {
  return [await benchLocal(options.quick ? 20 : 100), await benchAws(options.quick ? 10 : 50)];
}
