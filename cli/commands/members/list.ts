import { EggCommand } from '../../base.js';

export default class MembersList extends EggCommand {
  static override summary = 'List the members of a namespace and their roles (service mode).';
  static override description = `Asks the API at EGG_API_URL with EGG_API_TOKEN, or else the ID token of \`egg login --backend api\` (docs/service.md). Any member may list them; a caller who is not a member is told the namespace does not exist.`;
  static override examples = ['<%= config.bin %> members list -n acme/web'];
  static override enableJsonFlag = true;

  async run() {
    const { ApiClient, namespacePath } = await import('../../../src/api/client.js');
    const { flags } = await this.parse(MembersList);
    const config = this.eggConfig(flags);
    const api = await ApiClient.fromEnv(process.env, config.home);
    const { members } = (await api.request('GET', `${namespacePath(config.namespace)}/members`)) as {
      members: { issuer: string; subject: string; role: string }[];
    };
    for (const member of members) this.log(`${member.role.padEnd(6)} ${member.subject} (${member.issuer})`);
    return { namespace: config.namespace, members };
  }
}
