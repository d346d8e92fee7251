import { EggError } from '../../src/errors.js';
import type { EggConfig } from '../../src/config.js';
import { EggCommand } from '../base.js';

export default class Whoami extends EggCommand {
  static override summary =
    'Show who egg acts as: the login session, on the local backend the OS user and the vault, with the api backend the API and its token’s subject.';
  static override description =
    "Reads the login session under EGG_HOME (no network): the issuer, your subject and email, the role and when its credentials expire (with --backend api logins, the ID token's audience and expiry). Never prints a token. With no session, the local backend acts as the OS user (the name the audit trail records) on the vault under EGG_HOME; on the aws backend it exits 1 (egg then uses the AWS SDK's default credentials). With the api backend and EGG_API_TOKEN set, it names the API (EGG_API_URL) and the issuer, subject and expiry of that token, read from the token without asking the API.";
  static override examples = ['<%= config.bin %> whoami', '<%= config.bin %> whoami --json'];
  static override enableJsonFlag = true;

  async run() {
    const { whoami } = await import('../../src/login/login.js');
    const { flags } = await this.parse(Whoami);
    const config = this.eggConfig(flags);
    // An explicit EGG_API_TOKEN wins over the login session (src/api/bearer.ts): show whose it is.
    if (config.backend === 'api' && (process.env.EGG_API_TOKEN ?? '') !== '') return this.apiCaller(config);
    const me = whoami(config.home, { logger: this.logger });
    if (me === undefined && config.backend === 'local') {
      const { osActor } = await import('../../src/actor.js');
      const { existsSync } = await import('node:fs');
      const { join } = await import('node:path');
      const actor = osActor(process.env);
      const vault = join(config.home, 'vault.db');
      const vaultExists = existsSync(vault);
      this.log('Backend:     local');
      this.log(`User:        ${actor} (the OS user; the audit trail records this name)`);
      this.log(`Vault:       ${vault}${vaultExists ? '' : ' (not created yet: run `egg init`)'}`);
      this.log(`Namespace:   ${config.namespace}`);
      return { loggedIn: false, backend: 'local', actor, vault, vaultExists, namespace: config.namespace };
    }
    if (me === undefined) {
      process.exitCode = 1;
      if (!this.jsonEnabled())
        process.stderr.write(
          config.backend === 'api'
            ? 'Not logged in (run `egg login --backend api`); until then the api backend needs EGG_API_TOKEN.\n'
            : "Not logged in (run `egg login`); until then the aws backend uses the AWS SDK's default credentials.\n",
        );
      return { loggedIn: false, backend: config.backend };
    }
    this.log(`Issuer:      ${me.issuer}`);
    this.log(`Subject:     ${me.subject}`);
    if (me.email !== undefined) this.log(`Email:       ${me.email}`);
    if ('backend' in me) {
      this.log(`Backend:     api (the ID token's audience: ${me.audience})`);
      const state = me.idTokenExpired
        ? me.refreshable
          ? 'expired; refreshed on next use'
          : 'expired; run `egg login --backend api`'
        : 'valid';
      this.log(`ID token:    ${state} until ${me.idTokenExpiresAt}`);
      this.log(`Token store: ${me.tokenStore}`);
      return me;
    }
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

  /** The api backend's caller: the API's URL and the bearer's claims (never the bearer). */
  private async apiCaller(config: EggConfig) {
    const [{ apiUrlOf }, { apiBearer }, { decodeJwt }] = await Promise.all([
      import('../../src/api/client.js'),
      import('../../src/api/bearer.js'),
      import('jose'),
    ]);
    const url = apiUrlOf(config);
    let claims: { iss?: unknown; sub?: unknown; exp?: unknown };
    try {
      claims = decodeJwt(await apiBearer(process.env, config.home));
    } catch (error) {
      if (error instanceof EggError) throw error;
      throw new EggError('ERR_UNAUTHENTICATED', 'the API token is not a JWT', {
        hint: 'set EGG_API_TOKEN to an ID token from an issuer the API trusts',
      });
    }
    const text = (value: unknown) => (typeof value === 'string' ? value : 'unknown');
    const expiresAt = typeof claims.exp === 'number' ? new Date(claims.exp * 1000).toISOString() : undefined;
    const expired = expiresAt !== undefined && Date.parse(expiresAt) <= Date.now();
    this.log('Backend:     api');
    this.log(`API:         ${url}`);
    this.log(`Issuer:      ${text(claims.iss)}`);
    this.log(`Subject:     ${text(claims.sub)} (the audit trail records this name)`);
    if (expiresAt !== undefined)
      this.log(`Token:       ${expired ? 'expired at' : 'valid until'} ${expiresAt}`);
    this.log(`Namespace:   ${config.namespace}`);
    return {
      backend: 'api',
      api: url,
      issuer: text(claims.iss),
      subject: text(claims.sub),
      ...(expiresAt === undefined ? {} : { expiresAt, expired }),
      namespace: config.namespace,
    };
  }
}
