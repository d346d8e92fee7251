import { Flags } from '@oclif/core';
import { login } from '../../src/login/login.js';
import { resolveLoginSettings } from '../../src/login/settings.js';
import { EggCommand } from '../base.js';

export default class Login extends EggCommand {
  static override summary = 'Log in with your identity provider and get short-lived AWS credentials.';
  static override description =
    'Runs the OAuth device flow (RFC 8628) against the configured OIDC issuer: open the link shown and confirm the code, and the ID token is exchanged with STS for the role, as CI does. The refresh token is kept in the OS keychain (macOS Keychain, or libsecret’s secret-tool) or else in a 0600 file under EGG_HOME; credentials refresh on their own before they expire. Prompts go to stderr, so --json output stays clean.';
  static override examples = [
    '<%= config.bin %> login --issuer https://login.example.com --client-id egg-cli --role-arn arn:aws:iam::123456789012:role/egg-people',
    '# with EGG_OIDC_ISSUER, EGG_OIDC_CLIENT_ID and EGG_ROLE_ARN set (or in .egg.json):\n<%= config.bin %> login',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    issuer: Flags.string({ summary: 'OIDC issuer URL. Default: EGG_OIDC_ISSUER, .egg.json "oidcIssuer".' }),
    'client-id': Flags.string({
      summary: 'OAuth client id registered for the device flow. Default: EGG_OIDC_CLIENT_ID.',
    }),
    scopes: Flags.string({
      summary: 'Space-separated scopes. Default: EGG_OIDC_SCOPES or "openid email offline_access".',
    }),
    'role-arn': Flags.string({ summary: 'IAM role to assume with the ID token. Default: EGG_ROLE_ARN.' }),
    region: Flags.string({ summary: 'AWS region of the STS endpoint. Default: AWS_REGION, or us-east-1.' }),
  };

  async run() {
    const { flags } = await this.parse(Login);
    const config = this.eggConfig({
      ...flags,
      oidcIssuer: flags.issuer,
      oidcClientId: flags['client-id'],
      oidcScopes: flags.scopes,
      roleArn: flags['role-arn'],
      region: flags.region,
    });
    const settings = resolveLoginSettings(config);
    const me = await login(config.home, settings, {
      logger: this.logger,
      onPrompt: (prompt) => {
        const minutes = Math.max(1, Math.round((prompt.expiresAt.getTime() - Date.now()) / 60_000));
        const link = prompt.verificationUriComplete ?? prompt.verificationUri;
        process.stderr.write(
          `To log in, open ${link}\nand confirm the code ${prompt.userCode} (it expires in ${minutes} minutes).\nWaiting for approval…\n`,
        );
      },
    });
    this.log(`Logged in to ${me.issuer} as ${me.email ?? me.subject}.`);
    this.log(
      `Role ${me.roleArn}; credentials valid until ${me.credentialsExpireAt}, refreshed automatically.`,
    );
    this.log(`Refresh token kept in ${me.tokenStore}.`);
    return me;
  }
}
