import { Flags } from '@oclif/core';
import type { LoginFlow } from '../../src/login/login.js';
import { DEFAULT_REDIRECT_PORT, resolveLoginSettings } from '../../src/login/settings.js';
import { EggCommand } from '../base.js';

export default class Login extends EggCommand {
  static override summary =
    'Log in with your identity provider and get short-lived AWS credentials, or the API’s token.';
  static override description =
    'Runs the OAuth device flow (RFC 8628) against the configured OIDC issuer, or, for issuers without it (Amazon Cognito), the authorization code flow with PKCE in a browser on this machine, its redirect coming back to http://127.0.0.1:PORT/callback. The verified ID token is exchanged with STS for the role, as CI does; with the api backend (--backend api, EGG_BACKEND=api) no role is needed, and the ID token itself is sent to the API (its audience is the client id), refreshed when less than two minutes remain. The refresh token is kept in the OS keychain (macOS Keychain, or libsecret’s secret-tool) or else in a 0600 file under EGG_HOME; credentials refresh on their own before they expire. Prompts and links go to stderr, so --json output stays clean.';
  static override examples = [
    '<%= config.bin %> login --issuer https://login.example.com --client-id egg-cli --role-arn arn:aws:iam::123456789012:role/egg-people',
    '# with EGG_OIDC_ISSUER, EGG_OIDC_CLIENT_ID and EGG_ROLE_ARN set (or in .egg.json):\n<%= config.bin %> login',
    '# an Amazon Cognito user pool (no device flow): sign in in the browser\n<%= config.bin %> login --flow browser --scopes "openid email"',
    '# the service mode: an ID token for the API at EGG_API_URL\n<%= config.bin %> login --backend api --issuer https://login.example.com --client-id egg-cli',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    issuer: Flags.string({ summary: 'OIDC issuer URL. Default: EGG_OIDC_ISSUER, .egg.json "oidcIssuer".' }),
    'client-id': Flags.string({
      summary: 'OAuth client id registered at the issuer (a public client). Default: EGG_OIDC_CLIENT_ID.',
    }),
    scopes: Flags.string({
      summary: 'Space-separated scopes. Default: EGG_OIDC_SCOPES or "openid email offline_access".',
    }),
    'role-arn': Flags.string({
      summary: 'IAM role to assume with the ID token (not with --backend api). Default: EGG_ROLE_ARN.',
    }),
    region: Flags.string({ summary: 'AWS region of the STS endpoint. Default: AWS_REGION, or us-east-1.' }),
    flow: Flags.string({
      summary:
        'device (RFC 8628), browser (authorization code with PKCE), or auto: device when the issuer offers it, else browser.',
      options: ['auto', 'device', 'browser'] satisfies LoginFlow[], // LOGIN_FLOWS, without loading the login code
      default: 'auto',
    }),
    'redirect-port': Flags.integer({
      summary: `Browser flow: the port of http://127.0.0.1:PORT/callback, as registered at the issuer; 0 for any free port. Default: EGG_OIDC_REDIRECT_PORT, .egg.json "oidcRedirectPort", or ${DEFAULT_REDIRECT_PORT}.`,
      min: 0,
      max: 65_535,
    }),
    open: Flags.boolean({
      summary:
        'Browser flow: open the sign-in page (EGG_BROWSER, else the system opener); --no-open only prints the link.',
      default: true,
      allowNo: true,
    }),
    timeout: Flags.integer({
      summary: 'Browser flow: seconds to wait for the sign-in to come back.',
      min: 1,
      default: 300,
    }),
  };

  async run() {
    const { openBrowser } = await import('../../src/login/browser.js');
    const { login } = await import('../../src/login/login.js');
    const { duration } = await import('../../src/login/loopback.js');
    const { flags } = await this.parse(Login);
    const config = this.eggConfig({
      ...flags,
      oidcIssuer: flags.issuer,
      oidcClientId: flags['client-id'],
      oidcScopes: flags.scopes,
      roleArn: flags['role-arn'],
      region: flags.region,
      oidcRedirectPort: flags['redirect-port']?.toString(),
    });
    const settings = resolveLoginSettings(config);
    const me = await login(config.home, settings, {
      logger: this.logger,
      flow: flags.flow as LoginFlow,
      callbackTimeoutMs: flags.timeout * 1000,
      onPrompt: (prompt) => {
        const minutes = Math.max(1, Math.round((prompt.expiresAt.getTime() - Date.now()) / 60_000));
        const link = prompt.verificationUriComplete ?? prompt.verificationUri;
        process.stderr.write(
          `To log in, open ${link}\nand confirm the code ${prompt.userCode} (it expires in ${minutes} minutes).\nWaiting for approval…\n`,
        );
      },
      onBrowserPrompt: async (prompt) => {
        const opened = flags.open && (await openBrowser(prompt.authorizationUrl));
        process.stderr.write(
          `${opened ? 'Opened your browser to sign in. If it did not open, open' : 'To log in, open'} this link in a browser on this machine:\n${prompt.authorizationUrl}\nWaiting up to ${duration(flags.timeout * 1000)} for the sign-in to come back to ${prompt.redirectUri}…\n`,
        );
      },
    });
    this.log(`Logged in to ${me.issuer} as ${me.email ?? me.subject}.`);
    if ('backend' in me)
      this.log(
        `For the API (the ID token's audience: ${me.audience}); valid until ${me.idTokenExpiresAt}, ${me.refreshable ? 'refreshed automatically' : 'then run `egg login --backend api` again'}.`,
      );
    else
      this.log(
        `Role ${me.roleArn}; credentials valid until ${me.credentialsExpireAt}, refreshed automatically.`,
      );
    this.log(`Refresh token kept in ${me.tokenStore}.`);
    return me;
  }
}
