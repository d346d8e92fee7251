/**
 * The proxy runtime (issue 5, item 1): `egg proxy serve` on ECS Fargate behind an
 * Application Load Balancer, built from infra/proxy/Dockerfile. Why Fargate and not Lambda,
 * what it costs and how to turn it on: docs/proxy-runtime.md.
 *
 * The task role is the proxy's whole trust: for every namespace it may read secrets (to
 * inject them), append read records to the audit trail, read token records and
 * revocations and bump a token's spend counter, and decrypt data keys; it may not write a
 * secret (it runs with `rotation: deferred`; the rotator re-encrypts what it read), sign a
 * token or touch another key. SECURITY.md, "The rotator and the proxy".
 */
import { fileURLToPath } from 'node:url';
import { Annotations, Aws, Duration, IgnoreMode } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as ecsPatterns from 'aws-cdk-lib/aws-ecs-patterns';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { EggError } from '../src/errors.js';
import { acceptFinding } from './nag.js';
import {
  AUDIT_PARTITION_PREFIX,
  TOKEN_PARTITION_PREFIX,
  USAGE_PARTITION_PREFIX,
  namespacePartitions,
  prefixedPartitions,
} from './partitions.js';
import type { StackKeyring } from './rotator.js';

/** Provider keys and, under `kms-hierarchical`, the namespace KEK: reads only. */
export const PROXY_SECRET_ACTIONS = ['dynamodb:GetItem', 'dynamodb:BatchGetItem'] as const;
/** Every vault read appends a `read` record: the head (Query), then the record (PutItem). */
export const PROXY_AUDIT_ACTIONS = ['dynamodb:Query', 'dynamodb:PutItem'] as const;
/**
 * Revocation head, entries and throttles (GetItem, Query), the token record's spend counter
 * (UpdateItem `ADD spent`), the records of a usage batch's tokens (BatchGetItem), a throttle
 * and an alert (UpdateItem), the alert channels (Query).
 */
export const PROXY_TOKEN_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:UpdateItem',
] as const;
/** Per-token usage counters (UpdateItem `ADD`, with `expiresAt`) and their baseline (Query). */
export const PROXY_USAGE_ACTIONS = ['dynamodb:Query', 'dynamodb:UpdateItem'] as const;
export const PROXY_PORT = 8080;
/**
 * Longer than the proxy's default `--upstream-timeout` (120 s of upstream silence, then 504),
 * so the proxy's answer reaches the client before the load balancer cuts an idle connection.
 */
export const PROXY_IDLE_TIMEOUT_SECONDS = 150;
/**
 * TLS 1.3 and 1.2 only (PRODUCT: "TLS 1.2+ in transit"; TLS 1.3 is the transport
 * primitive), TLS 1.2 restricted to ECDHE with AES-GCM (forward secrecy, AEAD), hybrid
 * post-quantum key exchange (ML-KEM) offered to TLS 1.3 clients that support it. AWS's
 * recommended policy ("Security policies for your Application Load Balancer").
 */
export const PROXY_SSL_POLICY = elbv2.SslPolicy.TLS13_12_RES_PQ;

export interface ProxyOptions {
  enabled: boolean;
  /** An ACM certificate in the stack's region: HTTPS on 443, and port 80 only redirects to it. */
  certificateArn?: string;
  /**
   * Without a certificate, serve plain HTTP on port 80 (egg tokens cross the network
   * unencrypted). Refused unless set: a proxy needs `certificateArn` or this.
   */
  allowPlainHttp?: boolean;
  /** Running tasks. Default 2 (one per Availability Zone). */
  desiredCount?: number;
}

export interface ProxyServiceProps {
  table: dynamodb.Table;
  key: kms.Key;
  signingKey: kms.Key;
  /** The RSA key that unseals sealed provider keys at their first use (docs/sealed-keys.md). */
  sealingKey: kms.Key;
  keyring: StackKeyring;
  options: ProxyOptions;
  grantTableEncryption: (role: iam.Role) => void;
}

/** The repository root: the image's build context (the Dockerfile builds `egg` from source). */
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
/**
 * What the build context holds (Docker ignore syntax: exclude everything, then re-include).
 * Keeps node_modules, build/ (and the cloud assembly inside it), .git and tests out of the
 * context and out of the asset hash.
 */
export const PROXY_IMAGE_CONTEXT = [
  '*',
  '!package.json',
  '!package-lock.json',
  '!tsconfig.json',
  '!tsconfig.build.json',
  '!src/**',
  '!cli/**',
  '!scripts/',
  'scripts/*',
  '!scripts/bundle.js',
  '!infra/proxy/**',
];

export class ProxyService extends Construct {
  readonly taskRole: iam.Role;
  readonly service: ecsPatterns.ApplicationLoadBalancedFargateService;
  /** `http(s)://<load balancer DNS name>`. */
  readonly url: string;
  readonly https: boolean;

  constructor(scope: Construct, id: string, props: ProxyServiceProps) {
    super(scope, id);
    const { table, key, signingKey, options } = props;
    const desiredCount = options.desiredCount ?? 2;
    if (!Number.isInteger(desiredCount) || desiredCount < 0)
      throw new TypeError(`proxy desiredCount must be a whole number ≥ 0 (got ${desiredCount})`);
    assertTransport(options);

    this.taskRole = new iam.Role(this, 'TaskRole', {
      description: 'Egg Carton proxy: injects provider keys of every namespace; never writes a secret',
      // Only ECS tasks of this account and region (the confused-deputy conditions of "Amazon
      // ECS task IAM role", ECS Developer Guide): another account's task definition cannot
      // name this role and be given its credentials.
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}:*` },
        },
      }),
    });
    const role = this.taskRole;
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SecretReads',
        actions: [...PROXY_SECRET_ACTIONS],
        resources: [table.tableArn],
        conditions: namespacePartitions(),
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'AuditAppend',
        actions: [...PROXY_AUDIT_ACTIONS],
        resources: [table.tableArn],
        conditions: prefixedPartitions(AUDIT_PARTITION_PREFIX),
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TokenItems',
        actions: [...PROXY_TOKEN_ACTIONS],
        resources: [table.tableArn],
        conditions: prefixedPartitions(TOKEN_PARTITION_PREFIX),
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'UsageCounters',
        actions: [...PROXY_USAGE_ACTIONS],
        resources: [table.tableArn],
        conditions: prefixedPartitions(USAGE_PARTITION_PREFIX),
      }),
    );
    const decrypt = {
      actions: ['kms:Decrypt'],
      conditions: { Null: { 'kms:EncryptionContext:namespace': 'false' } },
    };
    role.addToPolicy(new iam.PolicyStatement({ sid: 'DataKeys', resources: [key.keyArn], ...decrypt }));
    props.grantTableEncryption(role);
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'SigningPublicKey',
        actions: ['kms:GetPublicKey'],
        resources: [signingKey.keyArn],
      }),
    );
    const caller = { ArnEquals: { 'aws:PrincipalArn': role.roleArn } };
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'Proxy',
        principals: [new iam.AccountRootPrincipal()],
        actions: decrypt.actions,
        resources: ['*'],
        conditions: { ...decrypt.conditions, ...caller },
      }),
    );
    signingKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ProxyPublicKey',
        principals: [new iam.AccountRootPrincipal()],
        actions: ['kms:GetPublicKey'],
        resources: ['*'],
        conditions: caller,
      }),
    );

    // Public subnets and public task addresses, no NAT gateway: the tasks must reach the
    // upstream providers on the internet anyway, and a NAT gateway per AZ would cost more
    // than the tasks. Inbound, only the load balancer reaches them (the pattern's security
    // group). DynamoDB traffic stays on the gateway endpoint (free).
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
    });
    vpc.addGatewayEndpoint('DynamoDb', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB });
    // Every accepted and rejected connection, kept as long as the proxy's own log.
    vpc.addFlowLog('FlowLog', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new logs.LogGroup(this, 'FlowLogs', { retention: logs.RetentionDays.THREE_MONTHS }),
      ),
    });
    // (The casts: aws-cdk-lib's declarations predate `exactOptionalPropertyTypes`.)
    const cluster = new ecs.Cluster(this, 'Cluster', { vpc: vpc as unknown as ec2.IVpc });
    acceptFinding(
      cluster,
      'ECS4',
      'the proxy reports what matters itself (one JSON log line per request: status, refusal code, bytes and time, src/proxy/server.ts) and the load balancer has its metrics; Container Insights would bill per metric for CPU and memory graphs',
    );
    const logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.THREE_MONTHS });

    const certificate =
      options.certificateArn === undefined
        ? undefined
        : acm.Certificate.fromCertificateArn(this, 'Certificate', options.certificateArn);
    const listener =
      certificate === undefined
        ? { protocol: elbv2.ApplicationProtocol.HTTP }
        : {
            protocol: elbv2.ApplicationProtocol.HTTPS,
            certificate,
            // Port 80 only answers 301 to https://…:443 (no forward, no rules).
            redirectHTTP: true,
            sslPolicy: PROXY_SSL_POLICY,
          };

    this.service = new ecsPatterns.ApplicationLoadBalancedFargateService(this, 'Service', {
      cluster: cluster as unknown as ecs.ICluster,
      taskSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      assignPublicIp: true,
      publicLoadBalancer: true,
      desiredCount,
      cpu: 512,
      memoryLimitMiB: 1024,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      idleTimeout: Duration.seconds(PROXY_IDLE_TIMEOUT_SECONDS),
      ...listener,
      taskImageOptions: {
        // Staged at synth without Docker; built (for linux/amd64, whatever the builder's
        // machine) and pushed by `cdk deploy`.
        image: ecs.ContainerImage.fromAsset(REPO_ROOT, {
          file: 'infra/proxy/Dockerfile',
          platform: Platform.LINUX_AMD64,
          ignoreMode: IgnoreMode.DOCKER,
          exclude: PROXY_IMAGE_CONTEXT,
        }),
        containerName: 'proxy',
        containerPort: PROXY_PORT,
        taskRole: role,
        environment: {
          EGG_BACKEND: 'aws',
          EGG_TABLE: table.tableName,
          EGG_KMS_KEY_ID: key.keyArn,
          EGG_SIGNING_KEY_ID: signingKey.keyArn,
          EGG_SEALING_KEY_ID: props.sealingKey.keyArn,
          EGG_KEYRING: props.keyring,
          // Never rewrite a secret: the rotator re-encrypts what the proxy read.
          EGG_ROTATION: 'deferred',
          EGG_REGION: Aws.REGION,
        },
        logDriver: ecs.LogDrivers.awsLogs({ streamPrefix: 'proxy', logGroup }),
      },
    });
    // The proxy has no route of its own (every path belongs to an upstream); a request with
    // no token gets its 401 before any state is touched, which proves the process serves.
    this.service.targetGroup.configureHealthCheck({
      path: '/',
      healthyHttpCodes: '401',
      interval: Duration.seconds(15),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 3,
    });
    acceptFinding(
      this.service.loadBalancer,
      'EC23',
      'the proxy is a public endpoint by design: browsers and CI runners anywhere call it, and an egg token (bound to its origins, caps and lifetime) is the access control, checked before any state is touched',
    );
    acceptFinding(
      this.service.loadBalancer,
      'ELB2',
      'the proxy logs every request itself (token id, status, refusal code, bytes, time; no header values, src/proxy/server.ts); load balancer access logs would add a bucket of client addresses and request lines that the proxy deliberately does not keep',
    );
    acceptFinding(
      this.service.taskDefinition,
      'ECS2',
      'the environment holds only names and ARNs (table, keys, keyring, region, rotation mode), no secret: the provider keys are read from the vault per request',
    );
    const executionRole = this.service.taskDefinition.executionRole;
    if (executionRole !== undefined)
      acceptFinding(
        executionRole,
        'IAM5[Resource::*]',
        'ecr:GetAuthorizationToken names no repository (Service Authorization Reference: no resource type), so the execution role that pulls the image can only be granted it on *',
      );
    // On a deploy or scale-in, the proxy finishes requests within 2 s of SIGTERM.
    this.service.targetGroup.setAttribute('deregistration_delay.timeout_seconds', '30');
    // Refuse header names a backend could read differently (request smuggling hygiene).
    this.service.loadBalancer.setAttribute('routing.http.drop_invalid_header_fields.enabled', 'true');
    // The proxy forwards request headers upstream: do not hand the client's address to the
    // provider in X-Forwarded-For (the proxy itself never uses it).
    this.service.loadBalancer.setAttribute('routing.http.xff_header_processing.mode', 'remove');

    const scheme = certificate === undefined ? 'http' : 'https';
    this.url = `${scheme}://${this.service.loadBalancer.loadBalancerDnsName}`;
    this.https = certificate !== undefined;
    if (certificate === undefined)
      Annotations.of(this).addWarningV2(
        'egg:proxy-http',
        'the proxy is deployed without a certificate: its load balancer speaks plain HTTP, so egg tokens travel unencrypted. Pass --proxy-certificate-arn (docs/proxy-runtime.md).',
      );
  }
}

/** A certificate, or plain HTTP asked for in words; never both, never neither. */
function assertTransport(options: ProxyOptions): void {
  const plain = options.allowPlainHttp === true;
  if (options.certificateArn === undefined && !plain)
    throw new EggError(
      'ERR_INVALID_CONFIG',
      'the proxy has no TLS certificate, so its load balancer would carry egg tokens in plain HTTP: pass --proxy-certificate-arn with an ACM certificate in the stack’s region, or --allow-plain-http to accept that',
      { hint: 'docs/proxy-runtime.md; from code: proxy.certificateArn or proxy.allowPlainHttp' },
    );
  if (options.certificateArn !== undefined && plain)
    throw new EggError(
      'ERR_INVALID_CONFIG',
      '--allow-plain-http is for a proxy without a certificate; with --proxy-certificate-arn, port 80 only redirects to HTTPS',
      { hint: 'docs/proxy-runtime.md' },
    );
}
