/**
 * Action figures: the main step's cold start to exported env (`node dist/main/index.js`
 * as the runner starts it, 10 secrets) as a ratio to `node -e 0`, and the bundle sizes.
 *
 * - local: the SQLite vault in `egg-home`; the whole step, nothing on the network.
 * - aws: the loopback OIDC token service and STS (test/support) in this process, DynamoDB
 *   Local and moto's KMS; so the figure includes those emulators' latency, and it is
 *   timed with asynchronous spawns (a `spawnSync` would stall the fakes' event loop).
 *
 * The runner gives a step every input of action.yml, defaults included, as `INPUT_<NAME>`,
 * and fresh GITHUB_ENV / GITHUB_OUTPUT / GITHUB_STATE / GITHUB_STEP_SUMMARY files; so does this.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateKeyCommand } from '@aws-sdk/client-kms';
import { openAwsBackend } from '../src/backends/aws.js';
import { createDynamoDbClient, createKmsClient } from '../src/aws/clients.js';
import type { EggConfig } from '../src/config.js';
import { nullLogger } from '../src/log.js';
import { openLocalBackend } from '../src/backends/local.js';
import { createTable } from '../src/stores/dynamodb.js';
import { Vault } from '../src/vault/vault.js';
import { inputEnv, jobEnv, parseFileCommands } from '../test/support/action-runner.js';
import { startFakeOidc } from '../test/support/fake-oidc.js';
import { startFakeSts } from '../test/support/fake-sts.js';
import { startEmulators } from './support/emulators.js';
import { median, timeCommands } from './support/measure.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'dist/main/index.js');
const SECRETS = 10;
const NAMESPACE = 'bench/action';
const ROLE = 'arn:aws:iam::123456789012:role/egg-bench';

export interface ActionFigures {
  nodeMs: number;
  /** Local backend, whole step / `node -e 0`. */
  localRatio: number;
  /** aws backend against the fakes and emulators; undefined when they could not start. */
  awsRatio?: number;
  awsNodeMs?: number;
  awsError?: string;
  mainBytes: number;
  mainDirBytes: number;
  postBytes: number;
}

/** action.yml's input defaults, as the runner passes them (`INPUT_<NAME>` for every input). */
export function actionDefaults(): Record<string, string> {
  const yml = readFileSync(join(ROOT, 'action.yml'), 'utf8');
  const block = yml.slice(yml.indexOf('\ninputs:\n'), yml.indexOf('\noutputs:\n'));
  const defaults: Record<string, string> = {};
  let current: string | undefined;
  for (const line of block.split('\n')) {
    const input = /^ {2}([a-z0-9-]+):\s*$/.exec(line);
    if (input?.[1] !== undefined) {
      current = input[1];
      defaults[current] = '';
      continue;
    }
    const value = /^ {4}default:\s*(.*)$/.exec(line);
    if (value?.[1] !== undefined && current !== undefined)
      defaults[current] = value[1].replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1');
  }
  return defaults;
}

/** The environment of one step: the job's variables, the inputs, and its own command files. */
function stepEnv(
  dir: string,
  inputs: Record<string, string>,
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  const temp = join(dir, 'runner-temp');
  mkdirSync(temp, { recursive: true });
  const files = {
    GITHUB_ENV: join(dir, 'env'),
    GITHUB_OUTPUT: join(dir, 'output'),
    GITHUB_STATE: join(dir, 'state'),
    GITHUB_STEP_SUMMARY: join(dir, 'summary'),
  };
  for (const path of Object.values(files)) writeFileSync(path, '');
  return {
    ...jobEnv(temp),
    ...files,
    ...inputEnv({ ...actionDefaults(), ...inputs }),
    ...extra,
  };
}

/** One run, checked: it must export every secret, or the timing means nothing. */
function assertExported(env: NodeJS.ProcessEnv, label: string): void {
  const exported = parseFileCommands(readFileSync(env.GITHUB_ENV as string, 'utf8'));
  const names = [...exported.keys()].filter((name) => name.startsWith('SECRET_'));
  if (new Set(names).size !== SECRETS)
    throw new Error(`${label}: exported ${names.length} of ${SECRETS} secrets`);
}

function spawnTimed(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const err: Buffer[] = [];
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code === 0) resolve(ms);
      else
        reject(new Error(`${args.join(' ')} exited ${code}: ${Buffer.concat(err).toString().slice(0, 500)}`));
    });
  });
}

const value = (i: number) => `action-bench-${i}-${'v'.repeat(40)}`;

export async function benchAction(options: { runs: number; aws: boolean }): Promise<ActionFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'egg-bench-action-'));
  try {
    const home = join(dir, 'home');
    const backend = openLocalBackend(home, { create: true });
    const seeder = new Vault({ ...backend, namespace: NAMESPACE, actor: 'bench' });
    for (let i = 0; i < SECRETS; i++) await seeder.set(`SECRET_${i}`, Buffer.from(value(i)));
    backend.keyring.close();
    await backend.store.close();

    const localEnv = stepEnv(join(dir, 'local'), {
      backend: 'local',
      'egg-home': home,
      namespace: NAMESPACE,
    });
    const times = timeCommands(
      [
        { label: 'node', command: process.execPath, args: ['-e', '0'] },
        { label: 'local', command: process.execPath, args: [MAIN], env: localEnv },
      ],
      options.runs,
    );
    assertExported(localEnv, 'local');
    const nodeMs = times.get('node') as number;
    const figures: ActionFigures = {
      nodeMs,
      localRatio: (times.get('local') as number) / nodeMs,
      ...sizes(),
    };
    if (options.aws) {
      try {
        Object.assign(figures, await benchAws(dir, options.runs));
      } catch (error) {
        figures.awsError = (error as Error).message.split('\n')[0] ?? String(error);
      }
    }
    return figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchAws(dir: string, runs: number): Promise<{ awsRatio: number; awsNodeMs: number }> {
  const saved = { ...process.env };
  const emulators = await startEmulators();
  const { dynamo, moto } = emulators;
  const oidc = await startFakeOidc();
  const sts = await startFakeSts({
    providers: [{ issuer: oidc.issuer, jwksUrl: oidc.jwksUrl, audiences: ['sts.amazonaws.com'] }],
    roles: [{ arn: ROLE, sub: ['repo:acme/web:*'], aud: 'sts.amazonaws.com' }],
  });
  try {
    process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
    process.env.AWS_ENDPOINT_URL_KMS = moto.endpoint;
    const table = 'egg-bench-action';
    const ddb = await createDynamoDbClient();
    await createTable(ddb, table);
    ddb.destroy();
    const kms = await createKmsClient();
    const key = await kms.send(new CreateKeyCommand({ Description: 'egg action bench' }));
    kms.destroy();
    const config: EggConfig = {
      backend: 'aws',
      home: join(dir, 'unused'),
      namespace: NAMESPACE,
      keyring: 'kms',
      rotation: 'inline',
      region: 'us-east-1',
      table,
      kmsKeyId: key.KeyMetadata?.Arn as string,
    };
    const seed = await openAwsBackend(config, { actor: 'bench' }, { logger: nullLogger });
    const seeder = new Vault({ ...seed, namespace: NAMESPACE, actor: 'bench' });
    for (let i = 0; i < SECRETS; i++) await seeder.set(`SECRET_${i}`, Buffer.from(value(i)));
    seed.keyring.close();
    await seed.store.close();

    // As in a job: no AWS credentials but the ones STS issues for the job's token.
    const env = stepEnv(
      join(dir, 'aws'),
      {
        'role-to-assume': ROLE,
        'aws-region': 'us-east-1',
        table,
        'kms-key-id': config.kmsKeyId as string,
        namespace: NAMESPACE,
      },
      {
        ACTIONS_ID_TOKEN_REQUEST_URL: oidc.requestUrl,
        ACTIONS_ID_TOKEN_REQUEST_TOKEN: oidc.requestToken,
        AWS_ENDPOINT_URL_STS: sts.endpoint,
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        AWS_ENDPOINT_URL_KMS: moto.endpoint,
        AWS_EC2_METADATA_DISABLED: 'true',
      },
    );
    const node: number[] = [];
    const aws: number[] = [];
    for (let i = 0; i < runs + 1; i++) {
      const n = await spawnTimed(['-e', '0'], { PATH: process.env.PATH });
      const a = await spawnTimed([MAIN], env);
      if (i === 0) continue; // warms caches, the emulators' JIT and the fakes' JWKS
      node.push(n);
      aws.push(a);
    }
    assertExported(env, 'aws');
    const awsNodeMs = median(node);
    return { awsRatio: median(aws) / awsNodeMs, awsNodeMs };
  } finally {
    await Promise.all([oidc.close(), sts.close()]);
    await emulators.stop();
    process.env = saved;
  }
}

function sizes(): Pick<ActionFigures, 'mainBytes' | 'mainDirBytes' | 'postBytes'> {
  const dist = join(ROOT, 'dist');
  const main = join(dist, 'main');
  return {
    mainBytes: statSync(join(main, 'index.js')).size,
    // Every chunk the main step may load (ncc splits lazy imports into N.index.js files).
    mainDirBytes: readdirSync(main)
      .filter((f) => f.endsWith('.js'))
      .reduce((sum, f) => sum + statSync(join(main, f)).size, 0),
    postBytes: statSync(join(dist, 'post', 'index.js')).size,
  };
}
