/**
 * One CLI user of an end-to-end suite on one backend: a fresh EGG_HOME (and, on aws, a
 * fresh table on DynamoDB Local with a moto KMS key), initialised; every output of `quiet`
 * recorded, so the suite can check at the end that a canary never showed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { createDynamoDbClient } from '../../src/aws/clients.js';
import { createTestKmsKey, useTestAws } from './aws.js';
import { type CliResult, egg, findLeaks } from './cli.js';

export class CliSession {
  readonly backend: 'local' | 'aws';
  /** Every stdout and stderr of `quiet`. */
  readonly outputs: string[] = [];
  base = '';
  env: NodeJS.ProcessEnv = {};
  table: string | undefined;

  constructor(backend: 'local' | 'aws') {
    this.backend = backend;
  }

  /** Make the home (and table), and `egg init` it; the init's outputs are recorded. */
  async start(prefix: string, namespace: string): Promise<CliResult> {
    this.base = mkdtempSync(join(tmpdir(), `egg-${prefix}-`));
    this.env = { EGG_HOME: join(this.base, 'home'), EGG_NAMESPACE: namespace };
    if (this.backend === 'local') return this.quiet(['init']);
    useTestAws();
    this.table = `egg-${prefix}-${randomBytes(4).toString('hex')}`;
    this.env = {
      ...this.env,
      EGG_BACKEND: 'aws',
      EGG_TABLE: this.table,
      EGG_KMS_KEY_ID: await createTestKmsKey(),
      EGG_KEYRING: 'kms-hierarchical',
    };
    return this.quiet(['init', '--create-table']);
  }

  run(args: string[], input?: string | Buffer): CliResult {
    return egg(args, { env: this.env, cwd: this.base, ...(input === undefined ? {} : { input }) });
  }

  /** `run`, recording the outputs. */
  quiet(args: string[], input?: string | Buffer): CliResult {
    const result = this.run(args, input);
    this.outputs.push(result.stdout, result.stderr);
    return result;
  }

  /**
   * The forms of `value` found in what is stored: vault.db's bytes, or every item of the
   * table (binary attributes as their bytes); `keys` are the items' sort keys.
   */
  async storedLeaks(value: string): Promise<{ leaks: string[]; keys: string[] }> {
    if (this.table === undefined)
      return { leaks: findLeaks(readFileSync(join(this.base, 'home', 'vault.db')), value), keys: [] };
    const client = await createDynamoDbClient();
    try {
      const { Items = [] } = await client.send(new ScanCommand({ TableName: this.table }));
      const leaks = Items.flatMap((item) =>
        findLeaks(
          Buffer.concat(
            Object.values(item).map((v) => (v.B ? Buffer.from(v.B) : Buffer.from(JSON.stringify(v)))),
          ),
          value,
        ),
      );
      return { leaks, keys: Items.map((item) => item.sk?.S ?? '') };
    } finally {
      client.destroy();
    }
  }

  close(): void {
    rmSync(this.base, { recursive: true, force: true });
  }
}
