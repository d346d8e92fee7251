import { EggCommand } from '../base.js';

export default class Whoami extends EggCommand {
  static override summary = 'Show who is logged in, for which role, and until when.';
  static override description =
    'Reads the login session under EGG_HOME (no network): the issuer, your subject and email, the role and when its credentials expire. Never prints a token. Exits 1 when nobody is logged in.';
  static override examples = ['<%= config.bin %> whoami', '<%= config.bin %> whoami --json'];
  static override enableJsonFlag = true;

  async run() {
    const { whoami } = await import('../../src/login/login.js');
    const { flags } = await this.parse(Whoami);
    const config = this.eggConfig(flags);
    const me = whoami(config.home, { logger: this.logger });
    if (me === undefined) {
      process.exitCode = 1;
      if (!this.jsonEnabled()) process.stderr.write('Not logged in (run `egg login`).\n');
      return { loggedIn: false };
    }
    this.log(`Issuer:      ${me.issuer}`);
    this.log(`Subject:     ${me.subject}`);
    if (me.email !== undefined) this.log(`Email:       ${me.email}`);
    this.log(`Role:        ${me.roleArn}`);
    this.log(`Session:     ${me.assumedRoleArn}`);
    const state = me.credentialsExpired
      ? me.refreshable
        ? 'expired; refreshed on next use'
        : 'expired; run `egg login`'
      : 'valid';
    this.log(`Credentials: ${state} until ${me.credentialsExpireAt}`);
    this.log(`Token store: ${me.tokenStore}`);
    return me;
  }
}
