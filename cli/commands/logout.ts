import { EggCommand } from '../base.js';

export default class Logout extends EggCommand {
  static override summary = 'Revoke your login at the issuer and delete it from this machine.';
  static override description =
    'Revokes the refresh token at the issuer’s revocation endpoint (RFC 7009) when it has one, then deletes the refresh token (keychain or file) and the login session with its cached AWS credentials or ID token. Deletion happens even when revocation fails. AWS credentials already issued cannot be revoked one by one and stay valid until they expire (at most an hour); an ID token, until its own expiry.';
  static override examples = ['<%= config.bin %> logout'];
  static override enableJsonFlag = true;

  async run() {
    const { logout } = await import('../../src/login/login.js');
    const { flags } = await this.parse(Logout);
    const config = this.eggConfig(flags);
    const report = await logout(config.home, { logger: this.logger });
    if (!report.loggedIn && report.deleted.length === 0) {
      this.log('Not logged in; nothing to delete.');
      return report;
    }
    if (report.revocation === 'revoked') this.log(`Revoked the refresh token at ${report.issuer}.`);
    else if (report.revocation === 'unsupported')
      this.log(`${report.issuer} offers no revocation endpoint; the refresh token was only deleted here.`);
    else if (report.revocation === 'failed')
      this.log(`Could not revoke the refresh token at ${report.issuer} (${report.revocationError}).`);
    for (const item of report.deleted) this.log(`Deleted the ${item}.`);
    if (report.idTokenValidUntil !== undefined)
      this.log(
        `An ID token already issued stays valid at the API until ${report.idTokenValidUntil} (the API checks it without asking the issuer).`,
      );
    if (report.credentialsValidUntil !== undefined)
      this.log(
        `AWS credentials already issued stay valid until ${report.credentialsValidUntil} (STS cannot revoke them one by one).`,
      );
    return report;
  }
}
