import { Args, Flags } from '@oclif/core';
import { EggCommand } from '../../base.js';

export default class MembersRm extends EggCommand {
  static override summary = 'Remove a member from a namespace (service mode).';
  static override description = `Needs admin; the owner cannot be removed. Asks the API at EGG_API_URL with EGG_API_TOKEN, or else the ID token of \`egg login --backend api\` (docs/service.md).`;
  static override examples = [
    '<%= config.bin %> members rm -n acme/web repo:acme/web:ref:refs/heads/main --issuer github',
  ];
  static override enableJsonFlag = true;
  static override args = {
    subject: Args.string({ description: 'The member’s "sub" claim.', required: true }),
  };
  static override flags = {
    issuer: Flags.string({ summary: 'Its issuer (a URL the API trusts, or "github"). Default: yours.' }),
  };

  async run() {
    const { ApiClient, namespacePath } = await import('../../../src/api/client.js');
    const { args, flags } = await this.parse(MembersRm);
    const config = this.eggConfig(flags);
    const api = await ApiClient.fromEnv(process.env, config.home);
    const { removed } = (await api.request('POST', `${namespacePath(config.namespace)}/members/remove`, {
      subject: args.subject,
      ...(flags.issuer === undefined ? {} : { issuer: flags.issuer }),
    })) as { removed: { issuer: string; subject: string; role: string } };
    this.log(`${removed.subject} (${removed.issuer}) is no longer a member of ${config.namespace}.`);
    return { namespace: config.namespace, removed };
  }
}
