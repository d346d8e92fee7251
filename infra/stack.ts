/**
 * The Egg Carton stack: the vault table, the KMS keys, the GitHub OIDC provider, one IAM
 * role per grant, the deferred rotator (infra/rotator.ts) and, when asked, the proxy
 * runtime (infra/proxy.ts) and a Cognito user pool for `egg login` (infra/login-pool.ts),
 * whose users a grant may let assume its role by their `sub` (`loginSubjects`). Every permission a grant's role gets is confined by AWS itself:
 * `dynamodb:LeadingKeys` on the table (each partition key is the namespace, `audit#` or
 * `tokens#` and the namespace: infra/partitions.ts) and `kms:EncryptionContext:namespace`
 * on the key (every data key's context names it). A grant is read-only unless it says
 * otherwise: it may read its secrets and append to its audit trail, never write a secret.
 * The anchor key signs the trails' checkpoints; only the rotator may sign with it or write
 * `anchor#<namespace>`, and every grant may read both (to run `egg audit verify`).
 * SECURITY.md explains what this does and does not defend; docs/deploy.md how to deploy it.
 */
import { fileURLToPath } from 'node:url';
import { Aws, CfnOutput, CliCredentialsStackSynthesizer, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { IStackSynthesizer, StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { EggError } from '../src/errors.js';
import { AccessTrail } from './access-trail.js';
import { Alerting } from './alerting.js';
import type { Grant } from './grants.js';
import { LoginPool, type LoginPoolOptions } from './login-pool.js';
import { acceptFinding } from './nag.js';
import {
  ACCOUNT_TOKEN_PARTITION,
  anchorPartition,
  auditPartition,
  exactPartitions,
  tokenPartition,
  USAGE_PARTITION_PREFIX,
  usagePartition,
} from './partitions.js';
import { type ProxyOptions, ProxyService } from './proxy.js';
import { ServiceApi, type ServiceOptions } from './service.js';
import { DEFAULT_ROTATOR_CONCURRENCY, Rotator, type StackKeyring } from './rotator.js';
import { denyTtlWrites, TTL_ATTRIBUTE } from './ttl.js';

export const GITHUB_ISSUER_HOST = 'token.actions.githubusercontent.com';
export const DEFAULT_AUDIENCE = 'sts.amazonaws.com';
export const DEFAULT_TABLE_NAME = 'egg-carton';
/**
 * How long point-in-time recovery keeps old items, old wrapped data keys and ciphertexts
 * included (SECURITY.md, "the old key is gone"): a working week to notice and undo a bad
 * write, five times shorter than DynamoDB's default of 35 days.
 */
export const DEFAULT_PITR_DAYS = 7;

/** Every grant: read its secrets (and KEK), its audit trail and its checkpoints, in `[ns, audit#ns, anchor#ns]`. */
export const READ_ITEM_ACTIONS = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'] as const;
/** Every grant: append `A#<seq>` to its audit trail, in `[audit#ns]` only. */
export const AUDIT_APPEND_ACTIONS = ['dynamodb:PutItem'] as const;
/** `mintTokens`: token records (`TK#`), revocations (`RV#t#`) and the head (`RV#head`), in `[tokens#ns]`. */
export const TOKEN_ITEM_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
] as const;
/** `mintTokens`: `egg tokens usage` reads its tokens' counters (`U#`), in `[usage#ns]` (the proxy writes them). */
export const USAGE_READ_ACTIONS = ['dynamodb:Query'] as const;
/** `mintTokens`: the account-wide kill switch's head (`RV#head` in `tokens##account`), read only. */
export const ACCOUNT_REVOCATION_READ_ACTIONS = ['dynamodb:GetItem'] as const;
/** `manageSecrets`: `egg secrets set` / `rm` and inline rotation, in `[ns]`. */
export const SECRET_WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:DeleteItem'] as const;
/** What DynamoDB asks KMS for on the caller's behalf to use a table encrypted with a customer managed key. */
export const TABLE_SSE_KMS_ACTIONS = [
  'kms:Decrypt',
  'kms:Encrypt',
  'kms:GenerateDataKey*',
  'kms:ReEncrypt*',
  'kms:DescribeKey',
] as const;
/** Key administration, without any cryptographic use ("Allows key administrators", KMS Developer Guide). */
export const KEY_ADMIN_ACTIONS = [
  'kms:Create*',
  'kms:Describe*',
  'kms:Enable*',
  'kms:List*',
  'kms:Put*',
  'kms:Update*',
  'kms:Revoke*',
  'kms:Disable*',
  'kms:Get*',
  'kms:Delete*',
  'kms:TagResource',
  'kms:UntagResource',
  'kms:ScheduleKeyDeletion',
  'kms:CancelKeyDeletion',
  'kms:RotateKeyOnDemand',
] as const;

export interface EggCartonStackProps extends StackProps {
  grants: Grant[];
  /** Physical table name (`EGG_TABLE`). Default `egg-carton`. */
  tableName?: string;
  /** An existing GitHub OIDC provider (one per account); created when absent. */
  githubOidcProviderArn?: string;
  /** The `aud` the trust policies pin. Default `sts.amazonaws.com`, the Action's default. */
  audience?: string;
  /** Who may administer (not use) the keys. Default: the account, through IAM policies. */
  keyAdminArns?: string[];
  /** People or roles that may use the data key for every namespace (`egg secrets set` from a laptop). */
  keyUserArns?: string[];
  /** The keyring the rotator and the proxy use (`EGG_KEYRING`); must match the clients'. Default `kms`. */
  keyring?: StackKeyring;
  /** The rotator's bundle (a directory with `index.js`). Default `dist/rotator/` (`npm run package`). */
  rotatorCodePath?: string;
  /** The rotator's reserved concurrency, or `false` for none. Default 2. */
  rotatorReservedConcurrency?: number | false;
  /** The proxy runtime (ECS Fargate behind a load balancer). Default: not deployed. */
  proxy?: ProxyOptions;
  /** With the proxy, an SNS topic for alerts and the right to put them on the default bus (infra/alerting.ts). Default true. */
  alerting?: boolean;
  /** A Cognito user pool for `egg login --flow browser`. Default: not deployed. */
  loginPool?: LoginPoolOptions;
  /** The table's point-in-time recovery period, 1 to 35 days (`RecoveryPeriodInDays`). Default 7. */
  pointInTimeRecoveryDays?: number;
  /** A CloudTrail trail of every KMS call and every item call on the table (infra/access-trail.ts). Default: none. */
  cloudTrail?: boolean;
  /** The service mode's HTTP API (infra/service.ts); needs `loginPool`, refuses `grants`. Default: not deployed. */
  service?: ServiceOptions;
}

/** The rotator's bundle as `npm run package` writes it. */
export const DEFAULT_ROTATOR_CODE_PATH = fileURLToPath(new URL('../dist/rotator', import.meta.url));

/** Outputs and resources other code (tests) reaches for. */
export class EggCartonStack extends Stack {
  readonly table: dynamodb.Table;
  readonly key: kms.Key;
  readonly signingKey: kms.Key;
  /** Signs audit checkpoints (Ed25519): the rotator only. */
  readonly anchorKey: kms.Key;
  /** Seals provider keys on their owner's side (RSA-3072, RSAES_OAEP_SHA_256; docs/sealed-keys.md). */
  readonly sealingKey: kms.Key;
  readonly oidcProviderArn: string;
  readonly roles = new Map<string, iam.Role>();
  readonly rotator: Rotator;
  readonly proxy: ProxyService | undefined;
  readonly alerting: Alerting | undefined;
  readonly loginPool: LoginPool | undefined;
  readonly accessTrail: AccessTrail | undefined;
  readonly service: ServiceApi | undefined;

  constructor(scope: Construct, id: string, props: EggCartonStackProps) {
    // The deployer's own credentials do every call (no bootstrap roles are assumed, and
    // CloudTrail names the person); the assets (the rotator's code, the proxy's image) go to
    // the bucket and repository `cdk bootstrap` creates, so that is needed once per account
    // and region (docs/deploy.md). No BootstrapVersion parameter or rule in the template.
    // (The cast: aws-cdk-lib's declarations predate `exactOptionalPropertyTypes`.)
    const synthesizer = new CliCredentialsStackSynthesizer() as unknown as IStackSynthesizer;
    super(scope, id, { synthesizer, ...props });
    const audience = props.audience ?? DEFAULT_AUDIENCE;
    const recoveryDays = props.pointInTimeRecoveryDays ?? DEFAULT_PITR_DAYS;
    if (!Number.isInteger(recoveryDays) || recoveryDays < 1 || recoveryDays > 35)
      throw new TypeError(
        `pointInTimeRecoveryDays must be a whole number from 1 to 35 (got ${recoveryDays})`,
      );
    const admins = (props.keyAdminArns ?? []).map((arn) => new iam.ArnPrincipal(arn));
    const adminPrincipals = admins.length > 0 ? admins : [new iam.AccountRootPrincipal()];

    this.key = new kms.Key(this, 'DataKey', {
      description: 'Egg Carton: wraps data keys and namespace KEKs; encrypts the vault table at rest',
      enableKeyRotation: true,
      alias: 'alias/egg-carton',
      removalPolicy: RemovalPolicy.RETAIN,
      policy: keyPolicy(
        adminPrincipals,
        // DynamoDB encryption at rest with this key (AWS's documented statement for a
        // customer managed table key): only through DynamoDB, only for this account's
        // principals whose own IAM policies allow it. DynamoDB never decrypts a blob a
        // caller hands it, so this does not reach the data keys wrapped for namespaces.
        new iam.PolicyStatement({
          sid: 'TableEncryptionViaDynamoDB',
          principals: [new iam.AccountRootPrincipal()],
          actions: [...TABLE_SSE_KMS_ACTIONS, 'kms:CreateGrant'],
          resources: ['*'],
          conditions: {
            StringEquals: {
              'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com`,
              'kms:CallerAccount': Aws.ACCOUNT_ID,
            },
          },
        }),
      ),
    });
    if (props.keyUserArns !== undefined && props.keyUserArns.length > 0)
      this.key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'KeyUsersAllNamespaces',
          principals: props.keyUserArns.map((arn) => new iam.ArnPrincipal(arn)),
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: ['*'],
        }),
      );

    this.signingKey = new kms.Key(this, 'SigningKey', {
      description: 'Egg Carton: signs host-bound tokens (Ed25519)',
      keySpec: kms.KeySpec.ECC_NIST_EDWARDS25519,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      alias: 'alias/egg-carton-signing',
      removalPolicy: RemovalPolicy.RETAIN,
      policy: keyPolicy(adminPrincipals),
    });

    // A key of its own, not the signing key: every minting grant may sign with that one.
    this.anchorKey = new kms.Key(this, 'AnchorKey', {
      description: 'Egg Carton: signs audit checkpoints (Ed25519); only the rotator signs',
      keySpec: kms.KeySpec.ECC_NIST_EDWARDS25519,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      alias: 'alias/egg-carton-anchor',
      removalPolicy: RemovalPolicy.RETAIN,
      // The account's principals may check checkpoints; Sign is granted to the rotator alone.
      policy: keyPolicy(adminPrincipals, publicKeyStatement()),
    });

    // Provider keys arrive sealed to its public key; only the roles that read them unseal.
    this.sealingKey = new kms.Key(this, 'SealingKey', {
      description: "Egg Carton: seals provider keys on their owner's side (RSA-OAEP-SHA-256)",
      keySpec: kms.KeySpec.RSA_3072,
      keyUsage: kms.KeyUsage.ENCRYPT_DECRYPT,
      alias: 'alias/egg-carton-sealing',
      removalPolicy: RemovalPolicy.RETAIN,
      // The account's principals may seal; Decrypt is named per role (#grantUnseal).
      policy: keyPolicy(adminPrincipals, publicKeyStatement()),
    });

    this.table = new dynamodb.Table(this, 'Table', {
      tableName: props.tableName ?? DEFAULT_TABLE_NAME,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      // Old items stay restorable this long, old wrapped data keys included (SECURITY.md).
      pointInTimeRecoverySpecification: {
        pointInTimeRecoveryEnabled: true,
        recoveryPeriodInDays: recoveryDays,
      },
      deletionProtection: true,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      // For the rotator: a read appends an `A#` record, whose new image names what to rotate.
      stream: dynamodb.StreamViewType.NEW_IMAGE,
      // Token items carry `expiresAt` (docs/tokens.md); secrets and audit records never do,
      // and no role but a minting one may write it (infra/ttl.ts).
      timeToLiveAttribute: TTL_ATTRIBUTE,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.oidcProviderArn =
      props.githubOidcProviderArn ??
      new iam.OidcProviderNative(this, 'GitHubOidcProvider', {
        url: `https://${GITHUB_ISSUER_HOST}`,
        clientIds: [audience],
        removalPolicy: RemovalPolicy.RETAIN,
      }).oidcProviderArn;

    this.loginPool =
      props.loginPool === undefined ? undefined : new LoginPool(this, 'Login', props.loginPool);

    if (props.service !== undefined && props.grants.length > 0)
      throw new EggError(
        'ERR_INVALID_CONFIG',
        `the service mode has no grant roles (the API is the only writer of the table), but the grants list ${props.grants.length}`,
        {
          hint: 'make each grant a membership (egg members add), then deploy with an empty grants file (docs/service.md)',
        },
      );
    if (props.service !== undefined && this.loginPool === undefined)
      throw new EggError('ERR_INVALID_CONFIG', 'the service mode signs people in with the Cognito pool', {
        hint: 'pass --cognito-domain-prefix with --service (docs/service.md)',
      });

    const constructIds = new Map<string, string>();
    for (const grant of props.grants) {
      const constructId = grantConstructId(grant.id);
      const clash = constructIds.get(constructId);
      if (clash !== undefined)
        throw new TypeError(
          `grants "${clash}" and "${grant.id}" map to the same construct id; give one an "id"`,
        );
      constructIds.set(constructId, grant.id);
      this.roles.set(grant.id, this.#grantRole(constructId, grant, audience));
    }

    const keyring = props.keyring ?? 'kms';
    this.rotator = new Rotator(this, 'Rotator', {
      table: this.table,
      key: this.key,
      anchorKey: this.anchorKey,
      sealingKey: this.sealingKey,
      keyring,
      codePath: props.rotatorCodePath ?? DEFAULT_ROTATOR_CODE_PATH,
      reservedConcurrency: props.rotatorReservedConcurrency ?? DEFAULT_ROTATOR_CONCURRENCY,
      grantTableEncryption: (role) => this.#grantTableEncryption(role),
    });
    this.proxy =
      props.proxy?.enabled === true
        ? new ProxyService(this, 'Proxy', {
            table: this.table,
            key: this.key,
            signingKey: this.signingKey,
            sealingKey: this.sealingKey,
            keyring,
            options: props.proxy,
            grantTableEncryption: (role) => this.#grantTableEncryption(role),
          })
        : undefined;
    this.alerting =
      this.proxy !== undefined && props.alerting !== false
        ? new Alerting(this, 'Alerting', { publisher: this.proxy.taskRole })
        : undefined;

    this.accessTrail =
      props.cloudTrail === true ? new AccessTrail(this, 'AccessTrail', { table: this.table }) : undefined;

    this.service =
      props.service === undefined || this.loginPool === undefined
        ? undefined
        : new ServiceApi(this, 'Service', {
            table: this.table,
            key: this.key,
            signingKey: this.signingKey,
            anchorKey: this.anchorKey,
            sealingKey: this.sealingKey,
            keyring,
            loginPool: this.loginPool,
            options: props.service,
            grantTableEncryption: (role) => this.#grantTableEncryption(role),
            grantUnseal: (role, sid) => this.#grantUnseal(role, sid),
          });

    // The proxy's first read of a sealed key unseals it; the rotator moves it under the keyring.
    this.#grantUnseal(this.rotator.role, 'Rotator');
    if (this.proxy !== undefined) this.#grantUnseal(this.proxy.taskRole, 'Proxy');

    // Neither the rotator nor the proxy writes `expiresAt` anywhere (infra/ttl.ts).
    denyTtlWrites(this.rotator.role, this.table.tableArn);
    if (this.proxy !== undefined)
      denyTtlWrites(this.proxy.taskRole, this.table.tableArn, { prefixes: [USAGE_PARTITION_PREFIX] });

    new CfnOutput(this, 'TableName', { value: this.table.tableName, description: 'EGG_TABLE / table' });
    new CfnOutput(this, 'KeyArn', { value: this.key.keyArn, description: 'EGG_KMS_KEY_ID / kms-key-id' });
    new CfnOutput(this, 'SigningKeyArn', {
      value: this.signingKey.keyArn,
      description: 'EGG_SIGNING_KEY_ID',
    });
    new CfnOutput(this, 'AnchorKeyArn', {
      value: this.anchorKey.keyArn,
      description: 'EGG_ANCHOR_KEY_ID: checks (and, for the rotator, signs) audit checkpoints',
    });
    new CfnOutput(this, 'SealingKeyArn', {
      value: this.sealingKey.keyArn,
      description: 'EGG_SEALING_KEY_ID: seals provider keys (egg secrets seal, the console)',
    });
    new CfnOutput(this, 'GitHubOidcProviderArn', { value: this.oidcProviderArn });
    new CfnOutput(this, 'RotatorFailureQueueUrl', {
      value: this.rotator.failures.queueUrl,
      description: 'rotations that failed after retries (pointers to stream records); alarm on it',
    });
    if (this.loginPool !== undefined) {
      const pool = this.loginPool;
      new CfnOutput(this, 'LoginIssuer', { value: pool.issuer, description: 'egg login --issuer' });
      new CfnOutput(this, 'LoginClientId', {
        value: pool.client.userPoolClientId,
        description: 'egg login --client-id (a public client: no secret)',
      });
      new CfnOutput(this, 'LoginRedirectUri', {
        value: pool.callbackUrl,
        description: 'the one callback the client allows; egg login --redirect-port must match its port',
      });
      new CfnOutput(this, 'LoginDomain', {
        value: pool.domainUrl,
        description: 'the sign-in pages; with Google, register <this>/oauth2/idpresponse at Google',
      });
      new CfnOutput(this, 'LoginOidcProviderArn', { value: pool.oidcProvider.oidcProviderArn });
    }
    if (this.proxy !== undefined)
      new CfnOutput(this, 'ProxyUrl', {
        value: this.proxy.url,
        description: this.proxy.https
          ? 'Egg Carton proxy (HTTPS: point a DNS name of the certificate at the load balancer)'
          : 'Egg Carton proxy over PLAIN HTTP: tokens cross the network unencrypted; deploy with --proxy-certificate-arn',
      });
  }

  /** The role side of using the table, encrypted at rest with the data key, through DynamoDB. */
  #grantTableEncryption(role: iam.Role): void {
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TableEncryptionViaDynamoDB',
        actions: [...TABLE_SSE_KMS_ACTIONS],
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
      }),
    );
    for (const action of TABLE_SSE_KMS_ACTIONS.filter((a) => a.endsWith('*')))
      acceptFinding(
        role,
        `IAM5[Action::${action}]`,
        'the actions DynamoDB asks for on the caller’s behalf to use a table encrypted with a customer managed key ("How Amazon DynamoDB uses AWS KMS"), on the data key only and only through DynamoDB (kms:ViaService)',
      );
  }

  /**
   * Let `role` unseal sealed provider keys: `Decrypt` with RSAES_OAEP_SHA_256 only, and the
   * public key, whose kid it checks first. KMS asymmetric decryption takes no encryption
   * context, so this cannot be confined to a namespace: the table's leading keys confine
   * which sealed items the role can read, and each blob's AAD binds it to its namespace and
   * name (docs/sealed-keys.md).
   */
  #grantUnseal(role: iam.Role, sid: string): void {
    const decrypt = {
      actions: ['kms:Decrypt'],
      conditions: { StringEquals: { 'kms:EncryptionAlgorithm': 'RSAES_OAEP_SHA_256' } },
    };
    role.addToPolicy(
      new iam.PolicyStatement({ sid: 'UnsealProviderKeys', resources: [this.sealingKey.keyArn], ...decrypt }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SealingPublicKey',
        actions: ['kms:GetPublicKey'],
        resources: [this.sealingKey.keyArn],
      }),
    );
    this.sealingKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: `Unseal${sid}`,
        principals: [new iam.AccountRootPrincipal()],
        actions: decrypt.actions,
        resources: ['*'],
        conditions: { ...decrypt.conditions, ArnEquals: { 'aws:PrincipalArn': role.roleArn } },
      }),
    );
  }

  #grantRole(constructId: string, grant: Grant, audience: string): iam.Role {
    const { namespace, loginSubjects } = grant;
    if (loginSubjects !== undefined && this.loginPool === undefined)
      throw new EggError(
        'ERR_INVALID_CONFIG',
        `grant "${grant.id}" lists loginSubjects, but the stack has no Cognito user pool for egg login`,
        { hint: 'pass --cognito-domain-prefix (docs/deploy.md), or drop loginSubjects' },
      );
    const role = new iam.Role(this, constructId, {
      description: `Egg Carton grant ${grant.id}: namespace ${namespace} for GitHub Actions${loginSubjects === undefined ? '' : ' and egg login'}`,
      maxSessionDuration: Duration.seconds(grant.maxSessionSeconds),
      // "Configuring a role for GitHub OIDC identity provider", IAM User Guide: pin `aud`
      // exactly and `sub` to the grant's patterns.
      assumedBy: new iam.WebIdentityPrincipal(this.oidcProviderArn, {
        StringEquals: { [`${GITHUB_ISSUER_HOST}:aud`]: audience },
        StringLike: { [`${GITHUB_ISSUER_HOST}:sub`]: grant.subjects },
      }),
    });
    // Laptops: the people listed, by their exact `sub` in the pool, with its client as audience.
    if (loginSubjects !== undefined && this.loginPool !== undefined)
      role.assumeRolePolicy?.addStatements(
        this.loginPool.trustStatement(role, 'LoginTrustConditions', loginSubjects),
      );

    const { mintTokens, manageSecrets } = grant;
    const audit = auditPartition(namespace);
    const item = (sid: string, actions: readonly string[], partitions: string[]) =>
      role.addToPolicy(
        new iam.PolicyStatement({
          sid,
          actions: [...actions],
          resources: [this.table.tableArn],
          conditions: exactPartitions(partitions),
        }),
      );
    // Each statement names its partitions exactly; none grants Scan (no leading key).
    item('NamespaceRead', READ_ITEM_ACTIONS, [namespace, audit, anchorPartition(namespace)]);
    // IAM cannot condition on the sort key, so this also lets the role overwrite any `A#`
    // record of its own trail: SECURITY.md, "Read-only CI roles".
    item('AuditAppend', AUDIT_APPEND_ACTIONS, [audit]);
    if (mintTokens) {
      item('TokenItems', TOKEN_ITEM_ACTIONS, [tokenPartition(namespace)]);
      item('UsageRead', USAGE_READ_ACTIONS, [usagePartition(namespace)]);
      // Minting dates a token at or after the account-wide kill switch's epoch: read it, never write it.
      item('AccountRevocationRead', ACCOUNT_REVOCATION_READ_ACTIONS, [ACCOUNT_TOKEN_PARTITION]);
    }
    if (manageSecrets) item('SecretWrites', SECRET_WRITE_ACTIONS, [namespace]);
    // Writing `expiresAt` is deleting (the table's TTL): only on its own token records.
    denyTtlWrites(
      role,
      this.table.tableArn,
      mintTokens ? { partition: tokenPartition(namespace) } : undefined,
    );

    // Reading needs Decrypt only; a fresh data key (set, inline rotation) needs GenerateDataKey.
    const namespaceKeyUse = {
      actions: manageSecrets ? ['kms:Decrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt'],
      conditions: { StringEquals: { 'kms:EncryptionContext:namespace': namespace } },
    };
    role.addToPolicy(
      new iam.PolicyStatement({ sid: 'NamespaceDataKeys', resources: [this.key.keyArn], ...namespaceKeyUse }),
    );
    // The key policy names the role too: it is what "who may use the key" means, and the
    // account itself gets no cryptographic use of the key outside DynamoDB. It names it by
    // `aws:PrincipalArn` rather than as the Principal, so a new role's IAM propagation delay
    // cannot fail the key policy update and a re-created role keeps working.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: `Namespace${constructId}`,
        principals: [new iam.AccountRootPrincipal()],
        actions: namespaceKeyUse.actions,
        resources: ['*'],
        conditions: { ...namespaceKeyUse.conditions, ArnEquals: { 'aws:PrincipalArn': role.roleArn } },
      }),
    );
    this.#grantTableEncryption(role);
    // A read may be a sealed provider key's first use; a writer may seal (its public key).
    this.#grantUnseal(role, constructId);
    // To check its trail's checkpoints; the key policy lets IAM grant this (PublicKeyThroughIam).
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'AnchorPublicKey',
        actions: ['kms:GetPublicKey'],
        resources: [this.anchorKey.keyArn],
      }),
    );

    if (mintTokens) {
      const sign = {
        actions: ['kms:Sign'],
        // Pure Ed25519 over the JWS signing input, as src/tokens/kms-signer.ts asks.
        conditions: {
          StringEquals: { 'kms:SigningAlgorithm': 'ED25519_SHA_512', 'kms:MessageType': 'RAW' },
        },
      };
      role.addToPolicy(
        new iam.PolicyStatement({ sid: 'SignTokens', resources: [this.signingKey.keyArn], ...sign }),
      );
      role.addToPolicy(
        new iam.PolicyStatement({
          sid: 'SigningPublicKey',
          actions: ['kms:GetPublicKey'],
          resources: [this.signingKey.keyArn],
        }),
      );
      const caller = { ArnEquals: { 'aws:PrincipalArn': role.roleArn } };
      this.signingKey.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `Sign${constructId}`,
          principals: [new iam.AccountRootPrincipal()],
          actions: sign.actions,
          resources: ['*'],
          conditions: { ...sign.conditions, ...caller },
        }),
      );
      this.signingKey.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `PublicKey${constructId}`,
          principals: [new iam.AccountRootPrincipal()],
          actions: ['kms:GetPublicKey'],
          resources: ['*'],
          conditions: caller,
        }),
      );
    }

    new CfnOutput(this, `${constructId}RoleArn`, {
      value: role.roleArn,
      description: manageSecrets
        ? `role-to-assume for namespace ${namespace} (may write secrets)`
        : `role-to-assume for namespace ${namespace}; read-only: the job must use rotation: deferred`,
    });
    return role;
  }
}

/** `acme/web/prod` → `GrantAcmeWebProd`: a construct id and an IAM `Sid` (alphanumeric only). */
export function grantConstructId(id: string): string {
  const words = id.split(/[^A-Za-z0-9]+/).filter((w) => w !== '');
  return `Grant${words.map((w) => w[0]?.toUpperCase() + w.slice(1)).join('')}`;
}

/**
 * Nobody, administrators included, may create a grant on the key except an AWS service for
 * one of its resources (DynamoDB, for the table's encryption at rest). A grant lets its
 * grantee use the key without appearing in the key policy, so `kms:Create*` would otherwise
 * let an administrator give itself `Decrypt` (or `Sign`) in one quiet call.
 * `kms:GrantIsForAWSResource` is true only when an integrated service calls CreateGrant on
 * the caller's behalf ("AWS KMS condition keys", KMS Developer Guide); `IfExists` makes a
 * request without the key count as a person's.
 */
function grantsOnlyForAwsResources(): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'GrantsOnlyForAwsResources',
    effect: iam.Effect.DENY,
    principals: [new iam.AnyPrincipal()],
    actions: ['kms:CreateGrant'],
    resources: ['*'],
    conditions: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false' } },
  });
}

/**
 * A key policy: its administrators, no grant but an AWS service's (every key of the stack
 * has both), then the statements that say who may use the key and how.
 */
function keyPolicy(admins: iam.IPrincipal[], ...uses: iam.PolicyStatement[]): iam.PolicyDocument {
  return new iam.PolicyDocument({
    statements: [adminStatement(admins), grantsOnlyForAwsResources(), ...uses],
  });
}

/**
 * The public key of an asymmetric key is public: any principal of the account whose own IAM
 * policy allows `kms:GetPublicKey` may read it. What the private half does stays in the key
 * policy's other statements.
 */
function publicKeyStatement(): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'PublicKeyThroughIam',
    principals: [new iam.AccountRootPrincipal()],
    actions: ['kms:GetPublicKey'],
    resources: ['*'],
  });
}

function adminStatement(principals: iam.IPrincipal[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'KeyAdministration',
    principals,
    actions: [...KEY_ADMIN_ACTIONS],
    resources: ['*'],
  });
}
