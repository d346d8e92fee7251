/**
 * The service mode (issue 16, docs/service.md): an API Gateway HTTP API in front of one
 * Lambda running the API (src/api/lambda.ts), whose role is the only principal that writes
 * the table on a caller's behalf. The rotator still rotates and anchors, and the proxy (when
 * deployed) still counts usage; no grant role exists (EggCartonStack refuses grants with
 * `service`), so no reader writes, or skips, its own audit record.
 *
 * Two JWT authorizers, because an HTTP API's JWT authorizer takes one issuer ("Controlling
 * access to HTTP APIs with JWT authorizers", API Gateway developer guide) and a route one
 * authorizer: the routes under `/v1` take ID tokens of the stack's Cognito pool (its app
 * client as audience), the same routes under `/ci/v1` take GitHub Actions' OIDC tokens (the
 * configured audience). The Lambda checks every token again against both issuers and drops
 * the `/ci` prefix (src/api/lambda.ts). The routes are the methods of src/api/routes.ts on
 * `/v1/namespaces` and `/v1/namespaces/{proxy+}` (a greedy path, since the gateway decodes a
 * namespace's `%2F` before it routes): no `$default` route, so any other path or method is
 * answered 404 by the gateway without invoking anything.
 *
 * Defaults of a hosted deployment: the execute-api endpoint speaks HTTPS only (HTTP APIs
 * have no HTTP listener); throttling on the stage (`throttle`, default 25 requests/s, burst
 * 50: HTTP APIs have no per-client limits, usage plans being a REST API feature) and per
 * caller in the Lambda (`callLimit`, default 10 calls/s, burst 20, counted in `calls#*`:
 * src/api/throttle.ts); no CORS
 * configuration, so the gateway answers no preflight and no `Access-Control-*` header; an
 * access log (JSON, no headers, no token) with retention; bodies over 128 KiB refused by the
 * handler (the gateway's own limit, 10 MB, is fixed).
 *
 * The handler is the ncc bundle in `dist/api/` (`npm run package`), as the rotator's is.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { GITHUB_ISSUER } from '../src/api/principal.js';
import { type CallLimit, DEFAULT_CALL_LIMIT } from '../src/api/throttle.js';
import { CI_PATH_PREFIX, NAMESPACE_METHODS, NAMESPACES_PATH } from '../src/api/routes.js';
import { EggError } from '../src/errors.js';
import type { LoginPool } from './login-pool.js';
import {
  ACCOUNT_TOKEN_PARTITION,
  ANCHOR_PARTITION_PREFIX,
  AUDIT_PARTITION_PREFIX,
  CALLS_PARTITION_PREFIX,
  MEMBERS_PARTITION_PREFIX,
  namespacePartitions,
  PRINCIPAL_PARTITION_PREFIX,
  prefixedPartitions,
  TOKEN_PARTITION_PREFIX,
  USAGE_PARTITION_PREFIX,
} from './partitions.js';
import { CHECKPOINT_SIGN_CONDITIONS, type StackKeyring } from './rotator.js';
import { denyTtlWrites } from './ttl.js';

/** Secrets, their versions, namespace KEKs and markers, in every namespace's own partition. */
export const SERVICE_SECRET_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:DeleteItem',
] as const;
/** Every trail (`audit#*`, the service's own `audit#@api` included): read it, append to it. */
export const SERVICE_AUDIT_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem'] as const;
/** Token records, revocations, throttles and alert channels (`tokens#*`). */
export const SERVICE_TOKEN_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
] as const;
/** Members (`members#*`) and each member's namespaces (`principal#*`). */
export const SERVICE_MEMBER_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:DeleteItem',
] as const;
/** Call counts of the limit per caller (`calls#*`): an `ADD` with `expiresAt`, a read of an earlier window. */
export const SERVICE_CALL_COUNT_ACTIONS = ['dynamodb:GetItem', 'dynamodb:UpdateItem'] as const;
/** Read only: checkpoints (`anchor#*`, the rotator writes them) and usage counters (`usage#*`, the proxy's). */
export const SERVICE_READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query'] as const;

/** The `aud` GitHub Actions jobs ask for when they call the API (the Action's `audience` input). */
export const DEFAULT_SERVICE_AUDIENCE = 'egg-carton-api';
/** The stage's steady rate (requests per second) and burst, for every route. */
export const DEFAULT_SERVICE_THROTTLE = { rateLimit: 25, burstLimit: 50 } as const;
/** Each caller's (issuer and `sub`) calls a second and burst, enforced by the Lambda. */
export const DEFAULT_SERVICE_CALL_LIMIT = DEFAULT_CALL_LIMIT;

/** The API's bundle as `npm run package` writes it. */
export const DEFAULT_SERVICE_CODE_PATH = fileURLToPath(new URL('../dist/api', import.meta.url));

export interface ServiceOptions {
  /** The `aud` the GitHub Actions authorizer accepts. Default `egg-carton-api`. */
  githubAudience?: string;
  /** The stage's throttling. Default 25 requests/s, burst 50. */
  throttle?: { rateLimit: number; burstLimit: number };
  /** Each caller's limit, enforced by the Lambda. Default 10 calls/s, burst 20. */
  callLimit?: CallLimit;
  /** The API's bundle (a directory with `index.js`). Default `dist/api/` (`npm run package`). */
  codePath?: string;
}

export interface ServiceApiProps {
  table: dynamodb.Table;
  key: kms.Key;
  signingKey: kms.Key;
  anchorKey: kms.Key;
  sealingKey: kms.Key;
  keyring: StackKeyring;
  loginPool: LoginPool;
  options: ServiceOptions;
  /** The role side of using the table (encrypted at rest with `key`) through DynamoDB. */
  grantTableEncryption: (role: iam.Role) => void;
  /** Unsealing sealed provider keys (a read may be one's first use). */
  grantUnseal: (role: iam.Role, sid: string) => void;
}

export class ServiceApi extends Construct {
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly accessLogs: logs.LogGroup;
  readonly peopleAuthorizer: HttpJwtAuthorizer;
  readonly githubAuthorizer: HttpJwtAuthorizer;
  readonly githubAudience: string;
  /** The API's base URL for people (`EGG_API_URL`); CI jobs use `<url>ci`. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: ServiceApiProps) {
    super(scope, id);
    const { table, key, signingKey, anchorKey, loginPool, options } = props;
    const codePath = options.codePath ?? DEFAULT_SERVICE_CODE_PATH;
    if (!existsSync(join(codePath, 'index.js')))
      throw new EggError(
        'ERR_NOT_INITIALIZED',
        `the API is not built: ${join(codePath, 'index.js')} is missing`,
        {
          hint: 'run `npm run package` first (it bundles dist/api/), or pass --service-code DIR',
        },
      );
    const throttle = options.throttle ?? DEFAULT_SERVICE_THROTTLE;
    for (const [name, value] of Object.entries(throttle))
      if (!Number.isInteger(value) || value < 1)
        throw new TypeError(`service throttle ${name} must be a whole number ≥ 1 (got ${value})`);
    const callLimit = options.callLimit ?? DEFAULT_SERVICE_CALL_LIMIT;
    for (const [name, value] of Object.entries(callLimit))
      if (!Number.isInteger(value) || value < 1)
        throw new TypeError(`service call limit ${name} must be a whole number ≥ 1 (got ${value})`);
    this.githubAudience = options.githubAudience ?? DEFAULT_SERVICE_AUDIENCE;

    this.role = new iam.Role(this, 'Role', {
      description: 'Egg Carton API: the only writer of the table for callers (service mode)',
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    const items = (sid: string, actions: readonly string[], conditions: Record<string, unknown>) =>
      this.role.addToPolicy(
        new iam.PolicyStatement({ sid, actions: [...actions], resources: [table.tableArn], conditions }),
      );
    // Each statement names its partitions by shape; none grants Scan (no leading key).
    items('SecretItems', SERVICE_SECRET_ACTIONS, namespacePartitions());
    items('AuditTrails', SERVICE_AUDIT_ACTIONS, prefixedPartitions(AUDIT_PARTITION_PREFIX));
    items('TokenItems', SERVICE_TOKEN_ACTIONS, prefixedPartitions(TOKEN_PARTITION_PREFIX));
    items(
      'Members',
      SERVICE_MEMBER_ACTIONS,
      prefixedPartitions(MEMBERS_PARTITION_PREFIX, PRINCIPAL_PARTITION_PREFIX),
    );
    items('CallCounts', SERVICE_CALL_COUNT_ACTIONS, prefixedPartitions(CALLS_PARTITION_PREFIX));
    items(
      'CheckpointsAndUsage',
      SERVICE_READ_ACTIONS,
      prefixedPartitions(ANCHOR_PARTITION_PREFIX, USAGE_PARTITION_PREFIX),
    );
    // `tokens#*` covers the account-wide kill switch: the API reads it, an administrator writes it.
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'NoAccountRevocationWrites',
        effect: iam.Effect.DENY,
        actions: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
        resources: [table.tableArn],
        conditions: { 'ForAnyValue:StringEquals': { 'dynamodb:LeadingKeys': [ACCOUNT_TOKEN_PARTITION] } },
      }),
    );
    // `expiresAt` only on token records and call counts; transaction items only in the members' partitions.
    denyTtlWrites(this.role, table.tableArn, { prefixes: [TOKEN_PARTITION_PREFIX, CALLS_PARTITION_PREFIX] }, [
      MEMBERS_PARTITION_PREFIX,
      PRINCIPAL_PARTITION_PREFIX,
    ]);

    const keyUse = {
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      // Only data keys and KEKs made for some namespace: every one names it in its context.
      conditions: { Null: { 'kms:EncryptionContext:namespace': 'false' } },
    };
    this.role.addToPolicy(new iam.PolicyStatement({ sid: 'DataKeys', resources: [key.keyArn], ...keyUse }));
    const caller = { ArnEquals: { 'aws:PrincipalArn': this.role.roleArn } };
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ServiceApi',
        principals: [new iam.AccountRootPrincipal()],
        actions: keyUse.actions,
        resources: ['*'],
        conditions: { ...keyUse.conditions, ...caller },
      }),
    );
    props.grantTableEncryption(this.role);
    props.grantUnseal(this.role, 'ServiceApi');
    // Minting signs host-bound tokens, as a minting grant does.
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SignTokens',
        actions: ['kms:Sign'],
        resources: [signingKey.keyArn],
        conditions: CHECKPOINT_SIGN_CONDITIONS,
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'PublicKeys',
        actions: ['kms:GetPublicKey'],
        resources: [signingKey.keyArn, anchorKey.keyArn],
      }),
    );
    signingKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'SignServiceApi',
        principals: [new iam.AccountRootPrincipal()],
        actions: ['kms:Sign'],
        resources: ['*'],
        conditions: { ...CHECKPOINT_SIGN_CONDITIONS, ...caller },
      }),
    );
    signingKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'PublicKeyServiceApi',
        principals: [new iam.AccountRootPrincipal()],
        actions: ['kms:GetPublicKey'],
        resources: ['*'],
        conditions: caller,
      }),
    );

    const logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.THREE_MONTHS });
    logGroup.grantWrite(this.role);
    const issuers = [
      { issuer: loginPool.issuer, audience: [loginPool.client.userPoolClientId] },
      { issuer: 'github', audience: [this.githubAudience] },
    ];
    this.function = new lambda.Function(this, 'Function', {
      description: 'Egg Carton API (service mode, issue 16)',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(codePath),
      role: this.role,
      memorySize: 512,
      timeout: Duration.seconds(29),
      logGroup,
      environment: {
        EGG_BACKEND: 'aws',
        EGG_TABLE: table.tableName,
        EGG_KMS_KEY_ID: key.keyArn,
        EGG_KEYRING: props.keyring,
        EGG_SIGNING_KEY_ID: signingKey.keyArn,
        EGG_ANCHOR_KEY_ID: anchorKey.keyArn,
        EGG_SEALING_KEY_ID: props.sealingKey.keyArn,
        // A read appends its record and the rotator replaces the data keys within seconds:
        // no read writes secrets, and no transaction touches a namespace's partition.
        EGG_ROTATION: 'deferred',
        EGG_API_ISSUERS: Stack.of(this).toJsonString(issuers),
        EGG_API_SUB_RPS: String(callLimit.rps),
        EGG_API_SUB_BURST: String(callLimit.burst),
      },
    });

    this.api = new apigwv2.HttpApi(this, 'Api', {
      description: 'Egg Carton API: every route behind a JWT authorizer',
      createDefaultStage: false,
    });
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: logs.RetentionDays.ONE_YEAR });
    this.stage = this.api.addStage('Stage', {
      stageName: '$default',
      autoDeploy: true,
      throttle,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogs),
        // What happened, to whom, from where: never a header, a body or the token.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            time: '$context.requestTime',
            ip: '$context.identity.sourceIp',
            method: '$context.httpMethod',
            path: '$context.path',
            routeKey: '$context.routeKey',
            status: '$context.status',
            sub: '$context.authorizer.claims.sub',
            authorizerError: '$context.authorizer.error',
            integrationStatus: '$context.integrationStatus',
            latency: '$context.responseLatency',
          }),
        ),
      },
    });

    this.peopleAuthorizer = new HttpJwtAuthorizer('People', loginPool.issuer, {
      jwtAudience: [loginPool.client.userPoolClientId],
    });
    this.githubAuthorizer = new HttpJwtAuthorizer('GitHubActions', GITHUB_ISSUER, {
      jwtAudience: [this.githubAudience],
    });
    const integration = new HttpLambdaIntegration('Handler', this.function, {
      payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
    });
    const methods = NAMESPACE_METHODS.map((m) => m as apigwv2.HttpMethod);
    for (const [prefix, authorizer] of [
      ['', this.peopleAuthorizer],
      [CI_PATH_PREFIX, this.githubAuthorizer],
    ] as const) {
      this.api.addRoutes({
        path: `${prefix}${NAMESPACES_PATH}`,
        methods: [apigwv2.HttpMethod.GET],
        integration,
        authorizer,
      });
      this.api.addRoutes({
        path: `${prefix}${NAMESPACES_PATH}/{proxy+}`,
        methods,
        integration,
        authorizer,
      });
    }
    this.url = this.stage.url;

    new CfnOutput(this, 'Url', {
      value: this.url,
      description: 'EGG_API_URL for people (egg login, then egg members / egg secrets with EGG_BACKEND=api)',
    });
    new CfnOutput(this, 'CiUrl', {
      value: `${this.url}${CI_PATH_PREFIX.slice(1)}`,
      description: `the Action's api-url: GitHub Actions OIDC tokens with audience ${this.githubAudience}`,
    });
  }
}
