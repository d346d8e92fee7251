import { Args, Flags } from '@oclif/core';
import { EggCommand } from '../../base.js';

export default class MembersAdd extends EggCommand {
  static override summary = 'Add a member to a namespace, or change its role (service mode).';
  static override description = `SUBJECT is the member's "sub" claim at its issuer: a person's at the people issuer (the default is your own issuer), or a GitHub Actions job's with --issuer github, in either of GitHub's forms (repo:OWNER/REPO:… or repo:OWNER@ID/REPO@ID:…). Roles: read (read secrets, see members and the audit trail), write (also set, remove, mint), admin (also manage members). Needs admin. Asks the API at EGG_API_URL with EGG_API_TOKEN, or else the ID token of \`egg login --backend api\` (docs/service.md).`;
  static override examples = [
    '<%= config.bin %> members add -n acme/web 6f1c3a9e-user-sub --role write',
    '<%= config.bin %> members add -n acme/web repo:acme@1001/web@2002:environment:prod --issuer github',
  ];
  static override enableJsonFlag = true;
  static override args = {
    subject: Args.string({ description: 'The member’s "sub" claim.', required: true }),
  };
  static override flags = {
    role: Flags.string({ summary: 'Its role.', options: ['read', 'write', 'admin'], default: 'read' }),
    issuer: Flags.string({ summary: 'Its issuer (a URL the API trusts, or "github"). Default: yours.' }),
  };

  async run() {
    const { ApiClient, namespacePath } = await import('../../../src/api/client.js');
    const { args, flags } = await this.parse(MembersAdd);
    const config = this.eggConfig(flags);
    const api = await ApiClient.fromEnv(process.env, config.home);
    const member = (await api.request('POST', `${namespacePath(config.namespace)}/members`, {
      subject: args.subject,
      role: flags.role,
      ...(flags.issuer === undefined ? {} : { issuer: flags.issuer }),
    })) as { issuer: string; subject: string; role: string };
    this.log(`${member.subject} (${member.issuer}) is a ${member.role} member of ${config.namespace}.`);
    return { namespace: config.namespace, ...member };
  }
}
