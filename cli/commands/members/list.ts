import { EggCommand } from '../../base.js';

export default class MembersList extends EggCommand {
  static override summary = 'List the members of a namespace and their roles (service mode).';
  static override description = `Asks the API at EGG_API_URL with the JWT in EGG_API_TOKEN (docs/service.md). Any member may list them; a caller who is not a member is told the namespace does not exist.`;
  static override examples = ['<%= config.bin %> members list -n acme/web'];
  static override enableJsonFlag = true;

  async run() {
    const { ApiClient, namespacePath } = await import('../../../src/api/client.js');
    const { flags } = await this.parse(MembersList);
    const config = this.eggConfig(flags);
    const { members } = (await (
      await ApiClient.connect(config)
    ).request('GET', `${namespacePath(config.namespace)}/members`)) as {
      members: { issuer: string; subject: string; role: string }[];
    };
    for (const member of members) this.log(`${member.role.padEnd(6)} ${member.subject} (${member.issuer})`);
    return { namespace: config.namespace, members };
  }
}
