/**
 * DynamoDB Local for the integration suites: fetched once from the npm registry (the jar
 * ships inside `amplify-dynamodb-simulator`; its licence forbids committing it), cached in
 * `.cache/dynamodb-local/`, and run in memory on 127.0.0.1 (see LoopbackDynamoDBLocal.java).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Service, startService } from './service.js';

const run = promisify(execFile);

export const SIMULATOR = 'amplify-dynamodb-simulator@2.9.30';
/** The registry's `dist.integrity` for that version: a changed tarball is refused. */
const SIMULATOR_INTEGRITY =
  'sha512-xTeeRLvzEfqyd5lh3bH4c0kHvSHHmmhD5ZDsHFKAQ5g2Zl6JqlFdutaQhCLHzxEp6Ry1o7TB6niIoXuQAnSewQ==';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CACHE_DIR = join(ROOT, '.cache', 'dynamodb-local');
const LAUNCHER = fileURLToPath(new URL('./LoopbackDynamoDBLocal.java', import.meta.url));

/** The directory holding DynamoDBLocal.jar and DynamoDBLocal_lib, fetching it when absent. */
export async function ensureDynamoDbLocal(cacheDir = CACHE_DIR): Promise<string> {
  const emulator = join(cacheDir, 'emulator');
  if (existsSync(join(emulator, 'DynamoDBLocal.jar'))) return emulator;
  await mkdir(cacheDir, { recursive: true });
  // Work in a private directory and rename into place, so concurrent test runs don't clash.
  const work = join(cacheDir, `.fetch-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(work);
  try {
    await run('npm', ['pack', SIMULATOR, '--silent', '--pack-destination', work], {
      cwd: work,
      timeout: 300_000,
    });
    const tarball = (await readdir(work)).find((file) => file.endsWith('.tgz'));
    if (tarball === undefined) throw new Error(`npm pack ${SIMULATOR} produced no tarball`);
    const bytes = await readFile(join(work, tarball));
    const integrity = `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
    if (integrity !== SIMULATOR_INTEGRITY) {
      throw new Error(`${SIMULATOR} does not match its pinned integrity (got ${integrity})`);
    }
    await run('tar', ['-xzf', join(work, tarball), '-C', work, 'package/emulator']);
    try {
      await rename(join(work, 'package', 'emulator'), emulator);
    } catch (error) {
      // Another run got there first; its copy is as good as ours.
      if (!existsSync(join(emulator, 'DynamoDBLocal.jar'))) throw error;
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return emulator;
}

/** The compiled launcher's class directory, compiled once per launcher source. */
async function ensureLauncher(emulator: string, cacheDir: string): Promise<string | undefined> {
  const source = await readFile(LAUNCHER);
  const dir = join(cacheDir, `launcher-${createHash('sha256').update(source).digest('hex').slice(0, 12)}`);
  if (existsSync(join(dir, 'LoopbackDynamoDBLocal.class'))) return dir;
  const work = `${dir}.${process.pid}.tmp`;
  try {
    await run('javac', ['-nowarn', '-cp', classpath(emulator), '-d', work, LAUNCHER], { timeout: 120_000 });
    await rename(work, dir).catch(async (error) => {
      if (!existsSync(join(dir, 'LoopbackDynamoDBLocal.class'))) throw error;
      await rm(work, { recursive: true, force: true });
    });
    return dir;
  } catch {
    // No javac: fall back to source-file mode, about half a second slower.
    await rm(work, { recursive: true, force: true });
    return undefined;
  }
}

function classpath(emulator: string, extra?: string): string {
  return [extra, join(emulator, 'DynamoDBLocal.jar'), join(emulator, 'DynamoDBLocal_lib', '*')]
    .filter((entry) => entry !== undefined)
    .join(':');
}

export const FAKE_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

/** Retry `probe` every 100 ms for up to 30 s: the port is open a moment before the service answers. */
export async function untilAnswers(name: string, probe: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await probe();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${name} does not answer`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * Once `service` listens at `endpoint`, wait until an SDK client built by `connect` answers
 * `probe`; stop the service if it never does.
 */
export async function ready<C extends { destroy(): void }>(
  name: string,
  service: Service,
  endpoint: string,
  connect: (config: {
    endpoint: string;
    region: string;
    credentials: typeof FAKE_CREDENTIALS;
    maxAttempts: number;
  }) => C,
  probe: (client: C) => Promise<unknown>,
): Promise<RunningService> {
  try {
    await untilAnswers(name, async () => {
      const client = connect({
        endpoint,
        region: 'us-east-1',
        credentials: FAKE_CREDENTIALS,
        maxAttempts: 1,
      });
      try {
        await probe(client);
      } finally {
        client.destroy();
      }
    });
    return { endpoint, service };
  } catch (error) {
    await service.stop();
    throw error;
  }
}

export interface RunningService {
  endpoint: string;
  service: Service;
}

/** Start DynamoDB Local in memory on loopback; resolves once it listens. */
export async function startDynamoDbLocal(cacheDir = CACHE_DIR): Promise<RunningService> {
  const emulator = await ensureDynamoDbLocal(cacheDir);
  const classes = await ensureLauncher(emulator, cacheDir);
  const args = [
    // C1 only and the serial collector: starts in about 2 s instead of 4 s; plenty for tests.
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    `-Djava.library.path=${join(emulator, 'DynamoDBLocal_lib')}`,
    '-cp',
    classpath(emulator, classes),
    classes === undefined ? LAUNCHER : 'LoopbackDynamoDBLocal',
    '-inMemory',
    '-sharedDb',
    '-disableTelemetry',
    '-port',
    '8000',
  ];
  const service = startService('dynamodb-local', 'java', args, {
    cwd: emulator,
    env: { ...process.env, DDB_LOCAL_TELEMETRY: '0' },
  });
  let port: string | undefined;
  try {
    [, port] = await service.waitFor(/^listening (\d+)$/, 60_000);
  } catch (error) {
    await service.stop();
    throw error;
  }
  const { DynamoDBClient, ListTablesCommand } = await import('@aws-sdk/client-dynamodb');
  return ready(
    'DynamoDB Local',
    service,
    `http://127.0.0.1:${port}`,
    (config) => new DynamoDBClient(config),
    (client) => client.send(new ListTablesCommand({})),
  );
}
