import { randomBytes } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createDynamoDbClient } from '../../src/aws/clients.js';
import { createTestKmsKey, useTestAws } from '../support/aws.js';
import { egg, findLeaks } from '../support/cli.js';

const CANARY = 'aws-canary-0c9e41b7-DO-NOT-LEAK';

describe.skipIf(inject('aws') === null).each(['kms', 'kms-hierarchical'])(
  'egg CLI on DynamoDB Local and moto (%s keyring)',
  (keyring) => {
    let env: NodeJS.ProcessEnv;
    let table: string;
    const outputs: string[] = [];
    const run = (args: string[], input?: string) => {
      const result = egg(args, { env, ...(input === undefined ? {} : { input }) });
      return result;
    };
    const quiet = (args: string[], input?: string) => {
      const result = run(args, input);
      outputs.push(result.stdout, result.stderr);
      return result;
    };

    beforeAll(async () => {
      useTestAws();
      table = `egg-cli-${randomBytes(4).toString('hex')}`;
      env = {
        EGG_BACKEND: 'aws',
        EGG_TABLE: table,
        EGG_KMS_KEY_ID: await createTestKmsKey(),
        EGG_KEYRING: keyring,
        EGG_NAMESPACE: 'acme/api',
        EGG_HOME: '/nonexistent/egg-home',
      };
    });

    it('says how to create a missing table', () => {
      const result = quiet(['secrets', 'list']);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^Error: .*egg init --backend aws --create-table.*\.\n$/);
    });

    it('creates the table with egg init --create-table', () => {
      const result = quiet(['init', '--create-table', '--json']);
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ backend: 'aws', table, created: true });
    });

    it('sets, gets, pulls and rotates through DynamoDB and KMS', () => {
      expect(quiet(['secrets', 'set', 'CANARY'], CANARY)).toMatchObject({
        code: 0,
        stdout: 'Set CANARY in acme/api (rev 1).\n',
      });
      expect(quiet(['secrets', 'set', 'OTHER'], 'other-value').code).toBe(0);
      expect(run(['secrets', 'get', 'CANARY'])).toMatchObject({ code: 0, stdout: CANARY, stderr: '' });
      const pulled = run(['secrets', 'pull', '--format', 'json']);
      expect(JSON.parse(pulled.stdout)).toEqual({ CANARY, OTHER: 'other-value' });
      const list = JSON.parse(quiet(['secrets', 'list', '--json']).stdout) as { name: string; gen: number }[];
      expect(list.map((s) => [s.name, s.gen])).toEqual([
        ['CANARY', 3],
        ['OTHER', 2],
      ]);
      expect(JSON.parse(quiet(['audit', 'verify', '--json']).stdout)).toMatchObject({ ok: true });
    });

    it('keeps the canary out of every table item and every output it was not asked for', async () => {
      const client = await createDynamoDbClient();
      try {
        const { Items = [] } = await client.send(new ScanCommand({ TableName: table }));
        expect(Items.length).toBeGreaterThan(4);
        for (const item of Items) {
          const raw = Buffer.concat(
            Object.values(item).map((v) => (v.B ? Buffer.from(v.B) : Buffer.from(JSON.stringify(v)))),
          );
          expect(findLeaks(raw, CANARY)).toEqual([]);
        }
      } finally {
        client.destroy();
      }
      for (const output of outputs) expect(findLeaks(output, CANARY)).toEqual([]);
    });
  },
);
