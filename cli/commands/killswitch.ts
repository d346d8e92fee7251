import { Flags } from '@oclif/core';
import { tokensOn } from '../../src/backends/open-backend.js';
import { EggError } from '../../src/errors.js';
import { killSwitchAll } from '../../src/tokens/kill-switch-all.js';
import { EggCommand } from '../base.js';

export default class Killswitch extends EggCommand {
  static override summary =
    'Void every token of the namespace (or, with --all, of every namespace) issued until now.';
  static override description =
    "Sets the namespace's \"not before\" epoch, which every running proxy sees within a second, and marks the record of every token minted until now, which every proxy refuses from its next request: a token dated ahead of the epoch (a minting host whose clock runs fast) is void too. Tokens minted afterwards work; one minted while the command runs may be void too (mint it again). If it fails part way, run it again.\n\nWith --all: first an account-wide epoch that every proxy reads with each poll (every token issued before it is refused in every namespace within a second), then the kill switch of each namespace you can list, reported one by one. On AWS listing namespaces needs dynamodb:Scan; without it only the account-wide epoch is set (it compares the tokens' issue time only). With the api backend the kill switch of a namespace needs the admin role, and --all is refused: the server's account-wide epoch would void every namespace's tokens.";
  static override examples = [
    '<%= config.bin %> killswitch -n acme/web/prod',
    '<%= config.bin %> killswitch --json',
    '<%= config.bin %> killswitch --all',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    all: Flags.boolean({
      summary: 'Every namespace: an account-wide epoch, then each namespace you can list.',
      default: false,
    }),
  };

  async run() {
    const { flags } = await this.parse(Killswitch);
    const config = this.eggConfig(flags);
    if (flags.all && config.backend === 'api')
      throw new EggError(
        'ERR_USAGE',
        'egg killswitch --all is not available with the api backend: its account-wide epoch would void the tokens of every namespace on the server, not only those you administer',
        { hint: 'run `egg killswitch -n NAMESPACE` for each namespace you are an admin of' },
      );
    if (flags.all)
      return this.withBackend(config, async (backend) => {
        const result = await killSwitchAll({
          tokens: await backend.tokenStore(),
          listNamespaces: async () => (await backend.store.listNamespaces()).map((n) => n.namespace),
          tokensIn: (namespace) => tokensOn(backend, namespace),
        });
        this.log(`Every token issued before ${result.notBefore} is void, in every namespace.`);
        for (const n of result.namespaces)
          this.log(
            n.ok ? `  ${n.namespace}: killed, records marked` : `  ${n.namespace}: FAILED: ${n.error}`,
          );
        if (result.unlisted !== undefined)
          process.stderr.write(
            `Warning: could not list the namespaces, so no token record was marked: ${result.unlisted}\n`,
          );
        const failed = result.namespaces.filter((n) => !n.ok).map((n) => n.namespace);
        if (failed.length > 0)
          throw new EggError('ERR_STORE_UNAVAILABLE', `the kill switch failed in ${failed.join(', ')}`, {
            hint: 'the account-wide epoch is in force; run `egg killswitch --all` again to mark their records',
          });
        return result;
      });
    return this.withTokens(config, async (tokens) => {
      const result = await tokens.killSwitch();
      this.log(`Every token of ${config.namespace} issued before ${result.notBefore} is void.`);
      return { namespace: config.namespace, ...result };
    });
  }
}
