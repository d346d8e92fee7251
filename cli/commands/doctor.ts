import { Flags } from '@oclif/core';
import { DEFAULT_AUDIENCE, runDoctor } from '../../src/doctor/doctor.js';
import { formatReport } from '../../src/doctor/report.js';
import { EggCommand } from '../base.js';

export default class Doctor extends EggCommand {
  static override summary = 'Check this machine, or the job it runs in, and say what to fix.';
  static override description =
    'Inside a GitHub Actions job with `permissions: id-token: write`, fetches the job’s OIDC token and prints its non-secret claims (never the token); with --role-arn it asks STS whether the role trusts the job and compares the role’s trust policy (from IAM, or --trust-policy FILE) with the claims, naming the condition that refuses them. Anywhere else it checks the configuration, the permissions of EGG_HOME, and for the aws backend the AWS credentials, the table and the KMS key. Exits 1 when a check fails.';
  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> doctor --backend aws --table egg --kms-key-id alias/egg',
    '# as a step of the job:\n<%= config.bin %> doctor --role-arn arn:aws:iam::123456789012:role/egg-ci',
    '<%= config.bin %> doctor --trust-policy trust.json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    'role-arn': Flags.string({ summary: 'IAM role whose trust of this job to check (in a job).' }),
    'trust-policy': Flags.string({
      summary: 'A trust policy JSON file to compare the job’s claims with, instead of reading the role.',
    }),
    audience: Flags.string({ summary: 'Audience of the OIDC token.', default: DEFAULT_AUDIENCE }),
    table: Flags.string({ summary: 'DynamoDB table (aws backend). Default: EGG_TABLE.' }),
    'kms-key-id': Flags.string({
      summary: 'KMS key id, ARN or alias (aws backend). Default: EGG_KMS_KEY_ID.',
    }),
    region: Flags.string({ summary: 'AWS region. Default: AWS_REGION.' }),
  };

  async run() {
    const { flags } = await this.parse(Doctor);
    const report = await runDoctor({
      flags: {
        namespace: flags.namespace,
        backend: flags.backend,
        table: flags.table,
        region: flags.region,
        kmsKeyId: flags['kms-key-id'],
      },
      audience: flags.audience,
      logger: this.logger,
      ...(flags['role-arn'] === undefined ? {} : { roleArn: flags['role-arn'] }),
      ...(flags['trust-policy'] === undefined ? {} : { trustPolicyFile: flags['trust-policy'] }),
    });
    for (const line of formatReport(report)) this.log(line);
    if (!report.ok) process.exitCode = 1;
    return report;
  }
}
