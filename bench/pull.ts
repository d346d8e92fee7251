/**
 * Pull of N secrets against DynamoDB Local and moto's KMS, each behind a proxy that adds
 * a fixed delay to every request: wall time in units of that delay, and the DynamoDB and
 * KMS calls seen on the wire. A fresh backend per trial (as in a fresh process), so the
 * hierarchical keyring pays for its namespace key every time.
 */
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { openAwsBackend } from '../src/backends/aws.js';
import { createDynamoDbClient, createKmsClient } from '../src/aws/clients.js';
import { resolveConfig } from '../src/config.js';
import { nullLogger } from '../src/log.js';
import { createTable } from '../src/stores/dynamodb.js';
import { Vault } from '../src/vault/vault.js';
import { startDelayProxy } from './support/delay-proxy.js';
import { startEmulators } from './support/emulators.js';
import { median } from './support/measure.js';

export interface PullRow {
  n: number;
  keyring: 'kms' | 'kms-hierarchical';
  /** Median wall time at the injected delay, divided by the delay. */
  units: number;
  /**
   * Sequential round trips on the critical path: (wall at 50 ms − wall at 0) / 50 ms. The
   * large probe delay keeps the emulators' own jitter from swamping the count.
   */
  roundTrips: number;
  /** Median wall time with no injected delay, in ms: the emulators' own latency. */
  baseMs: number;
  dynamodbCalls: number;
  kmsCalls: number;
}

const TABLE = 'egg-bench';
const PROBE_DELAY_MS = 50;

export async function benchPull(options: {
  delayMs: number;
  sizes: number[];
  trials: number;
}): Promise<PullRow[]> {
  const emulators = await startEmulators();
  const { dynamo, moto } = emulators;
  const ddbProxy = await startDelayProxy(dynamo.endpoint, options.delayMs);
  const kmsProxy = await startDelayProxy(moto.endpoint, options.delayMs);
  const direct = () => {
    process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
    process.env.AWS_ENDPOINT_URL_KMS = moto.endpoint;
  };
  const viaProxies = () => {
    process.env.AWS_ENDPOINT_URL_DYNAMODB = ddbProxy.url;
    process.env.AWS_ENDPOINT_URL_KMS = kmsProxy.url;
  };
  try {
    direct();
    const ddb = await createDynamoDbClient();
    await createTable(ddb, TABLE);
    ddb.destroy();
    const kms = await createKmsClient();
    const key = await kms.send(new CreateKeyCommand({ Description: 'egg bench' }));
    kms.destroy();
    const kmsKeyId = key.KeyMetadata?.Arn as string;

    const rows: PullRow[] = [];
    for (const keyring of ['kms', 'kms-hierarchical'] as const) {
      for (const n of options.sizes) {
        const namespace = `bench/${keyring}/n${n}`;
        const config = resolveConfig({
          flags: { backend: 'aws', namespace, keyring, table: TABLE, kmsKeyId, region: 'us-east-1' },
          env: {},
          cwd: '/',
          home: '/nonexistent',
        });
        direct();
        const seed = await openAwsBackend(config, { actor: 'bench' }, { logger: nullLogger });
        const seeder = new Vault({ ...seed, namespace, actor: 'bench' });
        for (let i = 0; i < n; i++)
          await seeder.set(`SECRET_${i}`, Buffer.from(`value-${i}-${'x'.repeat(40)}`));
        seed.keyring.close();
        await seed.store.close();

        viaProxies();
        const delayed: number[] = [];
        const undelayed: number[] = [];
        const probed: number[] = [];
        const delays = [options.delayMs, 0, PROBE_DELAY_MS];
        let dynamodbCalls = 0;
        let kmsCalls = 0;
        // Rotate through the delays trial by trial so that machine noise falls on all alike.
        for (let trial = 0; trial < delays.length * (options.trials + 1); trial++) {
          const delay = delays[trial % delays.length] as number;
          ddbProxy.setDelay(delay);
          kmsProxy.setDelay(delay);
          const backend = await openAwsBackend(config, { actor: 'bench' }, { logger: nullLogger });
          const vault = new Vault({ ...backend, namespace, actor: 'bench' });
          ddbProxy.reset();
          kmsProxy.reset();
          const start = performance.now();
          const result = await vault.pull();
          const ms = performance.now() - start;
          if (result.secrets.length !== n) throw new Error(`pulled ${result.secrets.length} of ${n}`);
          if (result.rotation.rotated !== n) throw new Error(`rotated ${result.rotation.rotated} of ${n}`);
          backend.keyring.close();
          await backend.store.close();
          if (trial < delays.length) continue; // warm-up: JIT and sockets
          (delay === 0 ? undelayed : delay === PROBE_DELAY_MS ? probed : delayed).push(ms);
          dynamodbCalls = ddbProxy.total();
          kmsCalls = kmsProxy.total();
        }
        const wall = median(delayed);
        const base = median(undelayed);
        rows.push({
          n,
          keyring,
          units: wall / options.delayMs,
          roundTrips: (median(probed) - base) / PROBE_DELAY_MS,
          baseMs: base,
          dynamodbCalls,
          kmsCalls,
        });
      }
    }
    return rows;
  } finally {
    await Promise.all([ddbProxy.close(), kmsProxy.close()]);
    await emulators.stop();
  }
}
