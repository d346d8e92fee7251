/**
 * The `aws` backend as configuration builds it (EGG_BACKEND=aws, EGG_TABLE, EGG_KMS_KEY_ID,
 * EGG_KEYRING), through `openVault`, and `egg init --backend aws`'s table check.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initAws, openAwsBackend } from '../../src/backends/aws.js';
import { CallCounter } from '../../src/aws/clients.js';
import { resolveConfig } from '../../src/config.js';
import { nullLogger } from '../../src/log.js';
import { openVault } from '../../src/backends/open-backend.js';
import { createTestKmsKey, createTestTable, useTestAws } from '../support/aws.js';

let dir: string;
let table: string;
let keyArn: string;
beforeAll(async () => {
  useTestAws();
  dir = mkdtempSync(join(tmpdir(), 'egg-aws-backend-'));
  [table, keyArn] = await Promise.all([createTestTable('egg-backend'), createTestKmsKey()]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (env: Record<string, string>) =>
  resolveConfig({
    env: { EGG_BACKEND: 'aws', AWS_REGION: 'us-east-1', ...env },
    cwd: dir,
    home: join(dir, 'home'),
  });

describe('openAwsBackend', () => {
  it.each(['kms', 'kms-hierarchical'])(
    'opens a working vault with the %s keyring from EGG_* settings',
    async (keyring) => {
      const namespace = `backend-${randomBytes(3).toString('hex')}`;
      const cfg = config({
        EGG_TABLE: table,
        EGG_KMS_KEY_ID: keyArn,
        EGG_KEYRING: keyring,
        EGG_NAMESPACE: namespace,
      });
      const { vault, close } = await openVault(cfg, { actor: 'user:test' });
      await vault.set('GREETING', Buffer.from('hello'));
      expect((await vault.get('GREETING')).value.toString()).toBe('hello');
      await close();
    },
  );

  it('reports each AWS request to onCall', async () => {
    const counter = new CallCounter();
    const backend = await openAwsBackend(
      config({ EGG_TABLE: table, EGG_KMS_KEY_ID: keyArn }),
      { actor: 'test' },
      {
        logger: nullLogger,
        onCall: counter.onCall,
      },
    );
    expect(await backend.store.getSecrets('nobody-here')).toEqual([]);
    await backend.keyring.generate({ namespace: 'nobody-here', secret: 'X' });
    expect([counter.count('dynamodb.Query'), counter.count('kms.GenerateDataKey')]).toEqual([1, 1]);
    backend.keyring.close();
    await backend.store.close();
  });

  it.each([
    [{ EGG_KMS_KEY_ID: 'k' }, 'the aws backend needs a DynamoDB table', 'set EGG_TABLE (or pass --table)'],
    [
      { EGG_TABLE: 'egg' },
      'the kms keyring needs a KMS key',
      'set EGG_KMS_KEY_ID (or pass --kms-key-id) to a key id, ARN or alias',
    ],
    [
      { EGG_TABLE: 'egg', EGG_KEYRING: 'kms-hierarchical' },
      'the kms-hierarchical keyring needs a KMS key',
      'set EGG_KMS_KEY_ID (or pass --kms-key-id) to a key id, ARN or alias',
    ],
  ])('says which setting is missing (%o)', async (env, message, hint) => {
    await expect(
      openAwsBackend(config(env), { actor: 'test' }, { logger: nullLogger }),
    ).rejects.toMatchObject({
      code: 'ERR_INVALID_CONFIG',
      message,
      hint,
    });
  });
});

describe('initAws', () => {
  it('refuses a missing table unless asked to create it, then creates it once', async () => {
    const fresh = `egg-init-${randomBytes(4).toString('hex')}`;
    const cfg = config({ EGG_TABLE: fresh, EGG_KMS_KEY_ID: keyArn });
    await expect(
      initAws(cfg, { actor: 'test' }, { createTable: false, logger: nullLogger }),
    ).rejects.toMatchObject({
      code: 'ERR_NOT_INITIALIZED',
      message: `the DynamoDB table ${fresh} does not exist`,
    });
    expect(await initAws(cfg, { actor: 'test' }, { createTable: true, logger: nullLogger })).toEqual({
      table: fresh,
      created: true,
    });
    expect(await initAws(cfg, { actor: 'test' }, { createTable: true, logger: nullLogger })).toEqual({
      table: fresh,
      created: false,
    });
  });

  it('names a KMS key that does not exist', async () => {
    const missing = 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000';
    const cfg = config({ EGG_TABLE: table, EGG_KMS_KEY_ID: missing });
    await expect(
      initAws(cfg, { actor: 'test' }, { createTable: false, logger: nullLogger }),
    ).rejects.toMatchObject({
      code: 'ERR_KMS',
      message: `the KMS key ${missing} cannot be used (NotFoundException)`,
    });
  });
});
