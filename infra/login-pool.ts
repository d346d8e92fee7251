/**
 * The optional Amazon Cognito user pool for `egg login` (docs/login.md, "Amazon Cognito"):
 * a pool nobody can sign up to by themselves, TOTP required for its own users, optionally
 * Google as identity provider; one public app client (no secret) with the authorization code
 * grant only, scopes `openid email`, and exactly one callback URL,
 * `http://127.0.0.1:<port>/callback`, the loopback redirect `egg login --flow browser`
 * listens on; the hosted sign-in domain; and the pool registered as an IAM OIDC provider whose
 * audience is that client. Signing in proves who someone is; what they may do is decided by
 * grants naming their `sub` in `loginSubjects` (infra/grants.ts), checked by STS.
 *
 * Cognito accepts PKCE from public clients but cannot be told to require it; `egg login`
 * always sends an S256 challenge. Threat protection ("advanced security") needs the Plus
 * feature plan, priced per monthly active user, so it is left to the operator.
 */
import { Aws, CfnJson, Duration, RemovalPolicy, SecretValue } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { EggError } from '../src/errors.js';
import { acceptFinding } from './nag.js';
import { DEFAULT_REDIRECT_PORT } from '../src/login/settings.js';

export interface LoginPoolOptions {
  /** The hosted sign-in domain: `https://<prefix>.auth.<region>.amazoncognito.com`. */
  domainPrefix: string;
  /** The port of the app client's one callback URL (`egg login --redirect-port`). Default 27843. */
  redirectPort?: number;
  /**
   * Sign in with Google: the client id of a Google OAuth client ("Web application") and the
   * name of the Secrets Manager secret holding its client secret as a plain string.
   */
  google?: { clientId: string; clientSecretName: string };
}

/** How long a laptop's refresh token lives: a working day; after that, `egg login` again. */
export const LOGIN_REFRESH_TOKEN_HOURS = 12;

export class LoginPool extends Construct {
  readonly userPool: cognito.UserPool;
  readonly client: cognito.UserPoolClient;
  readonly domain: cognito.UserPoolDomain;
  readonly oidcProvider: iam.OidcProviderNative;
  /** `https://cognito-idp.<region>.amazonaws.com/<poolId>`: `egg login --issuer`. */
  readonly issuer: string;
  /** `http://127.0.0.1:<port>/callback`. */
  readonly callbackUrl: string;
  /** `cognito-idp.<region>.amazonaws.com/<poolId>`, the prefix of the provider's IAM condition keys. */
  readonly #conditionPrefix: string;

  constructor(scope: Construct, id: string, options: LoginPoolOptions) {
    super(scope, id);
    assertDomainPrefix(options.domainPrefix);
    const port = options.redirectPort ?? DEFAULT_REDIRECT_PORT;
    if (!Number.isInteger(port) || port < 1 || port > 65_535)
      throw new EggError('ERR_INVALID_CONFIG', `the login redirect port must be 1 to 65535 (got ${port})`);
    this.callbackUrl = `http://127.0.0.1:${port}/callback`;

    this.userPool = new cognito.UserPool(this, 'UserPool', {
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      autoVerify: { email: true },
      mfa: cognito.Mfa.REQUIRED,
      // TOTP only: SMS costs per message and falls to SIM swaps. Managed login walks a new
      // user through enrolling an authenticator app at first sign-in.
      mfaSecondFactor: { sms: false, otp: true },
      // Length, not composition rules (NIST SP 800-63B §5.1.1.2), with a second factor required.
      passwordPolicy: {
        minLength: 14,
        requireLowercase: false,
        requireUppercase: false,
        requireDigits: false,
        requireSymbols: false,
      },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      featurePlan: cognito.FeaturePlan.ESSENTIALS,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acceptFinding(
      this.userPool,
      'COG1',
      'the policy asks for length (14), not composition rules, as NIST SP 800-63B §5.1.1.2 advises, and every sign-in needs a TOTP second factor',
    );
    acceptFinding(
      this.userPool,
      'COG8',
      'the Plus plan bills per user for threat protection; sign-up is closed (admins create users), MFA is required, and refresh tokens last a working day',
    );

    const providers = [cognito.UserPoolClientIdentityProvider.COGNITO];
    let google: cognito.UserPoolIdentityProviderGoogle | undefined;
    if (options.google !== undefined) {
      google = new cognito.UserPoolIdentityProviderGoogle(this, 'Google', {
        userPool: this.userPool,
        clientId: options.google.clientId,
        // A dynamic reference, resolved by CloudFormation at deploy time: never in the template.
        clientSecretValue: SecretValue.secretsManager(options.google.clientSecretName),
        scopes: ['openid', 'email'],
        attributeMapping: {
          email: cognito.ProviderAttribute.GOOGLE_EMAIL,
          emailVerified: cognito.ProviderAttribute.GOOGLE_EMAIL_VERIFIED,
        },
      });
      providers.push(cognito.UserPoolClientIdentityProvider.GOOGLE);
    }

    this.client = this.userPool.addClient('CliClient', {
      // A public client (RFC 6749 §2.1): a secret shipped to laptops is no secret.
      generateSecret: false,
      // No SDK sign-in flows (USER_SRP_AUTH…): only the hosted pages, then refresh.
      authFlows: { userSrp: false },
      oAuth: {
        flows: { authorizationCodeGrant: true, implicitCodeGrant: false, clientCredentials: false },
        scopes: [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
        callbackUrls: [this.callbackUrl],
      },
      supportedIdentityProviders: providers,
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.hours(LOGIN_REFRESH_TOKEN_HOURS),
    });
    // The client names Google as a provider, so Google must exist first.
    if (google !== undefined) this.client.node.addDependency(google);

    this.domain = this.userPool.addDomain('Domain', {
      cognitoDomain: { domainPrefix: options.domainPrefix },
      managedLoginVersion: cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN,
    });
    // Managed login shows its pages only for clients with a branding style; Cognito's defaults do.
    new cognito.CfnManagedLoginBranding(this, 'Branding', {
      userPoolId: this.userPool.userPoolId,
      clientId: this.client.userPoolClientId,
      useCognitoProvidedValues: true,
    });

    this.#conditionPrefix = `cognito-idp.${Aws.REGION}.${Aws.URL_SUFFIX}/${this.userPool.userPoolId}`;
    this.issuer = `https://${this.#conditionPrefix}`;
    this.oidcProvider = new iam.OidcProviderNative(this, 'OidcProvider', {
      url: this.issuer,
      clientIds: [this.client.userPoolClientId],
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /** The sign-in pages' origin; Google's authorized redirect URI is this plus `/oauth2/idpresponse`. */
  get domainUrl(): string {
    return this.domain.baseUrl();
  }

  /**
   * A trust statement letting exactly these users (their `sub` in this pool) assume a role with
   * an ID token issued to this pool's client. The condition keys embed the pool id, which is
   * known only at deploy time, and CloudFormation allows no function in a key, so they go
   * through `CfnJson` (a custom resource that builds the object at deploy time).
   */
  trustStatement(scope: Construct, id: string, subjects: string[]): iam.PolicyStatement {
    const conditions = new CfnJson(scope, id, {
      value: {
        [`${this.#conditionPrefix}:aud`]: this.client.userPoolClientId,
        [`${this.#conditionPrefix}:sub`]: subjects,
      },
    });
    return new iam.PolicyStatement({
      sid: 'EggLogin',
      actions: ['sts:AssumeRoleWithWebIdentity'],
      principals: [new iam.FederatedPrincipal(this.oidcProvider.oidcProviderArn)],
      conditions: { StringEquals: conditions },
    });
  }
}

/** Cognito's rules for a prefix domain: lowercase letters, digits, hyphens; no reserved words. */
function assertDomainPrefix(prefix: string): void {
  if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(prefix) || /aws|amazon|cognito/.test(prefix))
    throw new EggError(
      'ERR_INVALID_CONFIG',
      `"${prefix}" is not a Cognito domain prefix: 1 to 63 lowercase letters, digits and inner hyphens, without "aws", "amazon" or "cognito"`,
    );
}
