import { Flags } from '@oclif/core';
import { DEFAULT_AUDIENCE, runDoctor } from '../../src/doctor/doctor.js';
import { formatReport } from '../../src/doctor/report.js';
import { EggCommand } from '../base.js';

export default class Doctor extends EggCommand {
  static override summary = 'Check this machine, or the job it runs in, and say what to fix.';
  static override description =
    'Inside a GitHub Actions job with `permissions: id-token: write`, fetches the job’s OIDC token and prints its non-secret claims (never the token); with --role-arn it asks STS whether the role trusts the job and compares the role’s trust policy (from IAM, or --trust-policy FILE) with the claims, naming the condition that refuses them, and says when the two differ only in the form of GitHub’s subject (name-only `repo:OWNER/REPO:…` or immutable `repo:OWNER@ID/REPO@ID:…`), in ids (a recycled name) or in names (a rename). Anywhere else it checks the configuration, the permissions of EGG_HOME, and for the aws backend the AWS credentials, the table and the KMS key; with --subject it also compares that sub (from the Action’s error, or `egg ci init`) with the role’s trust policy, read from IAM with your own credentials or from --trust-policy FILE. Exits 1 when a check fails.';
  static override examples = [
    '<%= config.bin %> doctor',
    '<%= config.bin %> doctor --backend aws --table egg --kms-key-id alias/egg',
    '# as a step of the job:\n<%= config.bin %> doctor --role-arn arn:aws:iam::123456789012:role/egg-ci',
    '<%= config.bin %> doctor --trust-policy trust.json',
    "# on a laptop, the sub a job presents against its role:\n<%= config.bin %> doctor --role-arn arn:aws:iam::123456789012:role/egg-ci --subject 'repo:acme@1001/web@2002:environment:prod'",
  ];
  static override enableJsonFlag = true;
  static override flags = {
    'role-arn': Flags.string({ summary: 'IAM role whose trust of this job to check (in a job).' }),
    'trust-policy': Flags.string({
      summary: 'A trust policy JSON file to compare the job’s claims with, instead of reading the role.',
    }),
    subject: Flags.string({
      summary:
        'Outside a job: the OIDC `sub` a job presents, to compare with the role’s trust policy (--role-arn or --trust-policy).',
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
      ...(flags.subject === undefined ? {} : { subject: flags.subject }),
    });
    for (const line of formatReport(report)) this.log(line);
    if (!report.ok) process.exitCode = 1;
    return report;
  }
}
