/**
 * The Egg Carton stack: the vault table, the KMS keys, the GitHub OIDC provider and one IAM
 * role per grant. Every permission a grant's role gets is confined to its namespace by AWS
 * itself: `dynamodb:LeadingKeys` on the table (the namespace is the partition key) and
 * `kms:EncryptionContext:namespace` on the key (every data key's context names it).
 * SECURITY.md explains what this does and does not defend; docs/deploy.md how to deploy it.
 *
 * Not here yet (docs/deploy.md, "Not deployed yet"): the proxy runtime, the deferred-rotation
 * Lambda on the table's stream, and a Cognito pool for `egg login`.
 */
import { Aws, CfnOutput, CliCredentialsStackSynthesizer, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { IStackSynthesizer, StackProps } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import type { Grant } from './grants.js';

export const GITHUB_ISSUER_HOST = 'token.actions.githubusercontent.com';
export const DEFAULT_AUDIENCE = 'sts.amazonaws.com';
export const DEFAULT_TABLE_NAME = 'egg-carton';

/** What `dynamodb:LeadingKeys`-confined item actions each kind of grant gets. */
export const READ_ITEM_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  // Audit appends (every read appends `A#<seq>`) and inline rotation (rewrites `S#<name>`).
  // IAM cannot condition on the sort key, so this also lets the role write its own
  // namespace's secrets: SECURITY.md, "Read-only CI roles".
  'dynamodb:PutItem',
] as const;
/** Revocation head (`RV#head`) bumps: `egg tokens revoke`, the Action's post step. */
export const MINT_ITEM_ACTIONS = ['dynamodb:UpdateItem'] as const;
/** `egg secrets rm` from CI. */
export const MANAGE_ITEM_ACTIONS = ['dynamodb:DeleteItem'] as const;
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
}

/** Outputs and resources other code (tests, a later rotator/proxy) reaches for. */
export class EggCartonStack extends Stack {
  readonly table: dynamodb.Table;
  readonly key: kms.Key;
  readonly signingKey: kms.Key;
  readonly oidcProviderArn: string;
  readonly roles = new Map<string, iam.Role>();

  constructor(scope: Construct, id: string, props: EggCartonStackProps) {
    // CLI credentials: no `cdk bootstrap` needed, and the template has no assets, so it can
    // also be deployed with plain `aws cloudformation deploy` (docs/deploy.md).
    // (The cast: aws-cdk-lib's declarations predate `exactOptionalPropertyTypes`.)
    const synthesizer = new CliCredentialsStackSynthesizer() as unknown as IStackSynthesizer;
    super(scope, id, { synthesizer, ...props });
    const audience = props.audience ?? DEFAULT_AUDIENCE;
    const admins = (props.keyAdminArns ?? []).map((arn) => new iam.ArnPrincipal(arn));
    const adminPrincipals = admins.length > 0 ? admins : [new iam.AccountRootPrincipal()];

    this.key = new kms.Key(this, 'DataKey', {
      description: 'Egg Carton: wraps data keys and namespace KEKs; encrypts the vault table at rest',
      enableKeyRotation: true,
      alias: 'alias/egg-carton',
      removalPolicy: RemovalPolicy.RETAIN,
      policy: new iam.PolicyDocument({
        statements: [
          adminStatement(adminPrincipals),
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
        ],
      }),
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
      policy: new iam.PolicyDocument({ statements: [adminStatement(adminPrincipals)] }),
    });

    this.table = new dynamodb.Table(this, 'Table', {
      tableName: props.tableName ?? DEFAULT_TABLE_NAME,
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.key,
      // For the deferred-rotation Lambda (issue 5, item 3): a read appends an `A#` record.
      stream: dynamodb.StreamViewType.NEW_IMAGE,
      // Token items carry `expiresAt` (docs/tokens.md); secrets and audit records never do.
      timeToLiveAttribute: 'expiresAt',
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.oidcProviderArn =
      props.githubOidcProviderArn ??
      new iam.OidcProviderNative(this, 'GitHubOidcProvider', {
        url: `https://${GITHUB_ISSUER_HOST}`,
        clientIds: [audience],
        removalPolicy: RemovalPolicy.RETAIN,
      }).oidcProviderArn;

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

    new CfnOutput(this, 'TableName', { value: this.table.tableName, description: 'EGG_TABLE / table' });
    new CfnOutput(this, 'KeyArn', { value: this.key.keyArn, description: 'EGG_KMS_KEY_ID / kms-key-id' });
    new CfnOutput(this, 'SigningKeyArn', {
      value: this.signingKey.keyArn,
      description: 'EGG_SIGNING_KEY_ID',
    });
    new CfnOutput(this, 'GitHubOidcProviderArn', { value: this.oidcProviderArn });
  }

  #grantRole(constructId: string, grant: Grant, audience: string): iam.Role {
    const { namespace } = grant;
    const role = new iam.Role(this, constructId, {
      description: `Egg Carton grant ${grant.id}: namespace ${namespace} for GitHub Actions`,
      maxSessionDuration: Duration.seconds(grant.maxSessionSeconds),
      // "Configuring a role for GitHub OIDC identity provider", IAM User Guide: pin `aud`
      // exactly and `sub` to the grant's patterns.
      assumedBy: new iam.WebIdentityPrincipal(this.oidcProviderArn, {
        StringEquals: { [`${GITHUB_ISSUER_HOST}:aud`]: audience },
        StringLike: { [`${GITHUB_ISSUER_HOST}:sub`]: grant.subjects },
      }),
    });

    const itemActions: string[] = [...READ_ITEM_ACTIONS];
    if (grant.mintTokens) itemActions.push(...MINT_ITEM_ACTIONS);
    if (grant.manageSecrets) itemActions.push(...MANAGE_ITEM_ACTIONS);
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'NamespaceItems',
        actions: itemActions,
        resources: [this.table.tableArn],
        // Every item action names its partition key; ForAllValues holds only when each one
        // is the namespace ("Using IAM policy conditions for fine-grained access control",
        // DynamoDB Developer Guide). No Scan, which has no leading key, is granted.
        conditions: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [namespace] } },
      }),
    );

    const namespaceKeyUse = {
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
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
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TableEncryptionViaDynamoDB',
        actions: [...TABLE_SSE_KMS_ACTIONS],
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
      }),
    );

    if (grant.mintTokens) {
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
      description: `role-to-assume for namespace ${namespace}`,
    });
    return role;
  }
}

/** `acme/web/prod` → `GrantAcmeWebProd`: a construct id and an IAM `Sid` (alphanumeric only). */
export function grantConstructId(id: string): string {
  const words = id.split(/[^A-Za-z0-9]+/).filter((w) => w !== '');
  return `Grant${words.map((w) => w[0]?.toUpperCase() + w.slice(1)).join('')}`;
}

function adminStatement(principals: iam.IPrincipal[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid: 'KeyAdministration',
    principals,
    actions: [...KEY_ADMIN_ACTIONS],
    resources: ['*'],
  });
}
