import { join } from 'node:path';
import { Flags } from '@oclif/core';
import { KEK_FILE, VAULT_FILE } from '../../src/backends/local.js';
import { EggCommand } from '../base.js';

export default class Init extends EggCommand {
  static override summary =
    'Set up a vault: the local one under EGG_HOME, or check (and create) the DynamoDB table.';
  static override description =
    'With the local backend, creates EGG_HOME (mode 0700) with the SQLite vault and the key-encryption key (mode 0600), bound together by a key check value. Back both up together: without the key the secrets cannot be decrypted. Over an existing vault it only checks that kek and vault.db belong together: it never makes a new key or an empty vault beside data (a missing kek, an emptied or damaged vault.db is an error that says how to restore it; see docs/local-vault.md). With --backend aws, checks the table and the KMS key; --create-table creates the table for development (production tables come from infra/).';
  static override examples = [
    '<%= config.bin %> init',
    'EGG_HOME=/tmp/try <%= config.bin %> init',
    '<%= config.bin %> init --backend aws --table egg-dev --kms-key-id alias/egg --create-table',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    table: Flags.string({ summary: 'DynamoDB table (aws backend). Default: EGG_TABLE.' }),
    'kms-key-id': Flags.string({
      summary: 'KMS key id, ARN or alias (aws backend). Default: EGG_KMS_KEY_ID.',
    }),
    keyring: Flags.string({
      summary: 'Keyring (aws backend: kms or kms-hierarchical; the local backend has only local).',
      options: ['local', 'kms', 'kms-hierarchical'],
    }),
    region: Flags.string({ summary: 'AWS region. Default: AWS_REGION.' }),
    'create-table': Flags.boolean({ summary: 'Create the DynamoDB table when it is missing (aws backend).' }),
  };

  async run() {
    const { flags } = await this.parse(Init);
    const config = this.eggConfig({
      ...flags,
      kmsKeyId: flags['kms-key-id'],
    });
    if (config.backend === 'local') {
      await this.withBackend(config, async () => undefined, { create: true });
      this.log(`Local vault ready at ${config.home}.`);
      this.log(
        `Key-encryption key: ${join(config.home, KEK_FILE)} (back it up; without it your secrets cannot be decrypted).`,
      );
      this.log(
        `Try: egg secrets set GREETING (it asks for the value), then egg run -- sh -c 'echo $GREETING'`,
      );
      return {
        backend: config.backend,
        home: config.home,
        vault: join(config.home, VAULT_FILE),
        namespace: config.namespace,
      };
    }
    const [{ initAws }, { cliIdentity }] = await Promise.all([
      import('../../src/backends/aws.js'),
      import('../../src/backends/identity.js'),
    ]);
    const result = await initAws(config, await cliIdentity(config, this.logger), {
      createTable: flags['create-table'],
      logger: this.logger,
    });
    this.log(result.created ? `Created table ${result.table}.` : `Table ${result.table} is ready.`);
    return { backend: config.backend, namespace: config.namespace, ...result };
  }
}
