/**
 * The service mode's stack (issue 16, "Synthesis"): `service` on the stack (`--service`)
 * adds an HTTP API whose every route sits behind one of two JWT authorizers (the Cognito
 * pool, GitHub Actions), throttled, access-logged, without CORS, in front of one Lambda whose
 * role is the only writer of the table for callers. Checked on the template, with the IAM
 * simulator for who may write what, with cdk-nag, and with the real API running as the
 * Lambda's role through the IAM gateway on DynamoDB Local and moto.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PutItemCommand, TransactWriteItemsCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildOptions, buildStack } from '../../infra/app.js';
import { parseGrants } from '../../infra/grants.js';
import {
  CALLS_PARTITION_PREFIX,
  MEMBERS_PARTITION_PREFIX,
  PRINCIPAL_PARTITION_PREFIX,
} from '../../infra/partitions.js';
import {
  DEFAULT_SERVICE_AUDIENCE,
  DEFAULT_SERVICE_CALL_LIMIT,
  DEFAULT_SERVICE_THROTTLE,
} from '../../infra/service.js';
import { TTL_ATTRIBUTE } from '../../infra/ttl.js';
import { GITHUB_ISSUER } from '../../src/api/principal.js';
import { NAMESPACE_METHODS } from '../../src/api/routes.js';
import { resolveConfig } from '../../src/config.js';
import { isEggError } from '../../src/errors.js';
import { callsPartition, membersPartition, principalPartition } from '../../src/stores/dynamodb.js';
import { type ApiHarness, startApiHarness } from '../support/api-harness.js';
import { cfnResolver, keyPolicyFromTemplate, roleStatementsFromTemplate } from '../support/iam-policy.js';
import { itemWriteCheck, orPlaceholder, simulate } from '../support/iam-simulator.js';
import { type RoleClients, type StackUnderTest, synthesizeForTest } from '../support/stack-roles.js';

const ACCOUNT = '123456789012';
const TABLE = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/egg-carton`;
const NS = 'acme/web/prod';

const dir = mkdtempSync(join(tmpdir(), 'egg-infra-service-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
for (const name of ['rotator', 'api']) {
  mkdirSync(join(dir, name));
  writeFileSync(join(dir, name, 'index.js'), 'export const handler = async () => ({});\n');
}
const LOGIN = { domainPrefix: 'egg-service-test' };
let builds = 0;
/** The stack with the service (and the pool it needs), `options` over it, `without` one of the two. */
function build(options: Partial<BuildOptions> = {}, without?: 'loginPool' | 'service') {
  const all: BuildOptions = {
    grants: [],
    githubOidcProviderArn: `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`,
    rotatorCodePath: join(dir, 'rotator'),
    outdir: join(dir, `cdk.out.${builds++}`),
    loginPool: LOGIN,
    service: { codePath: join(dir, 'api') },
    ...options,
  };
  if (without !== undefined) delete all[without];
  return buildStack(all);
}

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
const { stack } = build({
  proxy: { enabled: true, certificateArn: `arn:aws:acm:us-east-1:${ACCOUNT}:certificate/x` },
});
const template = Template.fromStack(stack).toJSON() as { Resources: Resources };
const resolve = cfnResolver({ account: ACCOUNT, region: 'us-east-1', template });
const ofType = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
/** The properties of the one resource of `type`. */
const onlyOf = (type: string) => {
  const found = ofType(type);
  expect(found).toHaveLength(1);
  return found[0]?.[1].Properties ?? {};
};
const id = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);
const service = stack.service!;
const lambdaRole = id(service.role);

describe('the HTTP API', () => {
  const routes = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
  const authorizers = Object.fromEntries(
    ofType('AWS::ApiGatewayV2::Authorizer').map(([logical, r]) => [logical, r.Properties]),
  );

  it('has two JWT authorizers: the Cognito pool with its app client, GitHub Actions with the audience', () => {
    const byName = Object.fromEntries(
      Object.values(authorizers).map((a) => [a.Name, { type: a.AuthorizerType, jwt: a.JwtConfiguration }]),
    );
    expect(byName.GitHubActions).toEqual({
      type: 'JWT',
      jwt: { Issuer: GITHUB_ISSUER, Audience: [DEFAULT_SERVICE_AUDIENCE] },
    });
    expect(byName.People?.type).toBe('JWT');
    const people = byName.People?.jwt as { Issuer: unknown; Audience: unknown[] };
    expect(people.Audience).toEqual([{ Ref: id(stack.loginPool!.client) }]);
    expect(resolve(people.Issuer as never)).toBe(resolve(stack.resolve(stack.loginPool!.issuer) as never));
  });

  it('takes the GitHub audience from the options', () => {
    const { stack: other } = build({
      service: { codePath: join(dir, 'api'), githubAudience: 'https://egg.acme.dev' },
    });
    Template.fromStack(other).hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      Name: 'GitHubActions',
      JwtConfiguration: { Issuer: GITHUB_ISSUER, Audience: ['https://egg.acme.dev'] },
    });
  });

  it('routes the methods of src/api/routes.ts, each behind a JWT authorizer, the /ci ones behind GitHub’s', () => {
    expect(routes.every((r) => r.AuthorizationType === 'JWT' && r.AuthorizerId !== undefined)).toBe(true);
    expect(routes.some((r) => r.AuthorizationType === 'NONE')).toBe(false);
    const keys = routes.map((r) => r.RouteKey as string).sort();
    const expected = ['', '/ci'].flatMap((prefix) => [
      `GET ${prefix}/v1/namespaces`,
      ...NAMESPACE_METHODS.map((m) => `${m} ${prefix}/v1/namespaces/{proxy+}`),
    ]);
    expect(keys).toEqual(expected.sort());
    expect(keys).not.toContain('$default');
    for (const route of routes) {
      const authorizer = authorizers[(route.AuthorizerId as { Ref: string }).Ref];
      expect(authorizer?.Name).toBe(
        (route.RouteKey as string).includes(' /ci/') ? 'GitHubActions' : 'People',
      );
    }
  });

  it('answers no CORS preflight and throttles the stage, by default and as configured', () => {
    const api = onlyOf('AWS::ApiGatewayV2::Api');
    expect(api.CorsConfiguration).toBeUndefined();
    expect(api.ProtocolType).toBe('HTTP');
    const stage = onlyOf('AWS::ApiGatewayV2::Stage');
    expect(stage.DefaultRouteSettings).toEqual({
      ThrottlingRateLimit: DEFAULT_SERVICE_THROTTLE.rateLimit,
      ThrottlingBurstLimit: DEFAULT_SERVICE_THROTTLE.burstLimit,
    });
    const { stack: other } = build({
      service: { codePath: join(dir, 'api'), throttle: { rateLimit: 5, burstLimit: 7 } },
    });
    Template.fromStack(other).hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 7 },
    });
    expect(() =>
      build({ service: { codePath: join(dir, 'api'), throttle: { rateLimit: 0, burstLimit: 7 } } }),
    ).toThrow(/rateLimit must be a whole number/);
  });

  it('logs every request to a log group kept a year, without headers or tokens', () => {
    const stage = onlyOf('AWS::ApiGatewayV2::Stage');
    const settings = stage.AccessLogSettings as {
      DestinationArn: { 'Fn::GetAtt': string[] };
      Format: string;
    };
    const group = template.Resources[settings.DestinationArn['Fn::GetAtt'][0] as string];
    expect(group?.Type).toBe('AWS::Logs::LogGroup');
    expect(group?.Properties.RetentionInDays).toBe(365);
    const format = JSON.parse(settings.Format) as Record<string, string>;
    expect(Object.keys(format)).toContain('sub');
    expect(settings.Format).not.toMatch(/header|body|Authorization/i);
  });

  it('runs the Lambda with both issuers, deferred rotation and the stack’s keys', () => {
    const fn = template.Resources[id(service.function)]!.Properties as {
      Environment: { Variables: Record<string, unknown> };
    };
    const vars = fn.Environment.Variables;
    expect(vars.EGG_BACKEND).toBe('aws');
    expect(vars.EGG_ROTATION).toBe('deferred');
    // A Fn::Join of the pool's issuer and client id with GitHub's entry.
    const issuers = JSON.stringify(vars.EGG_API_ISSUERS);
    expect(issuers).toContain('https://cognito-idp.');
    expect(issuers).toContain(JSON.stringify({ Ref: id(stack.loginPool!.client) }));
    expect(issuers).toContain(
      JSON.stringify(JSON.stringify({ issuer: 'github', audience: [DEFAULT_SERVICE_AUDIENCE] })).slice(1, -1),
    );
  });

  it('hands the Lambda its limit per caller, by default and as configured', () => {
    const vars = (stackOf: typeof stack, fn: { node: { defaultChild?: unknown } }) =>
      (
        Template.fromStack(stackOf).toJSON().Resources[
          stackOf.getLogicalId(fn.node.defaultChild as never)
        ] as {
          Properties: { Environment: { Variables: Record<string, unknown> } };
        }
      ).Properties.Environment.Variables;
    expect(vars(stack, service.function)).toMatchObject({
      EGG_API_SUB_RPS: String(DEFAULT_SERVICE_CALL_LIMIT.rps),
      EGG_API_SUB_BURST: String(DEFAULT_SERVICE_CALL_LIMIT.burst),
    });
    const { stack: other } = build({
      service: { codePath: join(dir, 'api'), callLimit: { rps: 3, burst: 9 } },
    });
    expect(vars(other, other.service!.function)).toMatchObject({
      EGG_API_SUB_RPS: '3',
      EGG_API_SUB_BURST: '9',
    });
    expect(() => build({ service: { codePath: join(dir, 'api'), callLimit: { rps: 3, burst: 0 } } })).toThrow(
      /call limit burst must be a whole number/,
    );
  });

  it('outputs the URL for people and the one for CI jobs', () => {
    const outputs = Template.fromStack(stack).toJSON().Outputs as Record<string, { Description: string }>;
    const names = Object.keys(outputs).filter((name) => name.startsWith('Service'));
    expect(names.sort()).toEqual(['ServiceCiUrl', 'ServiceUrl'].map((n) => expect.stringMatching(`^${n}`)));
  });
});

describe('npm run synth -- --service', () => {
  const synth = (...args: string[]) =>
    promisify(execFile)(
      process.execPath,
      ['--import', './test/support/ts-hooks.mjs', 'infra/synth.ts', ...args],
      {
        cwd: new URL('../../', import.meta.url).pathname,
        env: { ...process.env, AWS_ACCESS_KEY_ID: '', AWS_PROFILE: 'egg-none', AWS_REGION: '' },
      },
    );
  const grantsFile = join(dir, 'no-grants.json');
  writeFileSync(grantsFile, '[]\n');

  it('synthesizes the API with the flags’ audience and throttle, the bundle as an asset', async () => {
    const out = join(dir, 'cdk.out.cli');
    const { stdout } = await synth(
      ...['--grants', grantsFile, '--out', out, '--rotator-code', join(dir, 'rotator')],
      ...['--cognito-domain-prefix', 'egg-cli-test', '--service', '--service-code', join(dir, 'api')],
      ...['--service-audience', 'https://egg.acme.dev', '--service-rate', '5', '--service-burst', '7'],
      ...['--service-sub-rate', '2', '--service-sub-burst', '6'],
    );
    expect(stdout).toContain('synthesized EggCarton with 0 grant role(s)');
    const cli = Template.fromJSON(JSON.parse(readFileSync(join(out, 'EggCarton.template.json'), 'utf8')));
    cli.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 7 },
    });
    cli.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      JwtConfiguration: { Issuer: GITHUB_ISSUER, Audience: ['https://egg.acme.dev'] },
    });
    cli.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ EGG_API_SUB_RPS: '2', EGG_API_SUB_BURST: '6' }) },
    });
  }, 180_000);

  it('refuses a service flag without --service, and a rate without a burst', async () => {
    await expect(synth('--service-audience', 'x')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--service-audience needs --service'),
    });
    await expect(synth('--service', '--service-rate', '5')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--service-rate and --service-burst go together'),
    });
    await expect(synth('--service', '--service-sub-burst', '5')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--service-sub-rate and --service-sub-burst go together'),
    });
  }, 180_000);
});

describe('the service mode refuses', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      return isEggError(error) ? error.code : String(error);
    }
    return undefined;
  };

  it('grant roles: the API is the only writer, a grant is a membership', () => {
    const grants = parseGrants(
      JSON.stringify([{ namespace: NS, subjects: ['repo:acme@1001/web@2002:environment:prod'] }]),
    );
    expect(code(() => build({ grants }))).toBe('ERR_INVALID_CONFIG');
  });

  it('a stack without the Cognito pool', () => {
    expect(code(() => build({}, 'loginPool'))).toBe('ERR_INVALID_CONFIG');
  });

  it('a missing bundle, naming npm run package', () => {
    expect(code(() => build({ service: { codePath: join(dir, 'nowhere') } }))).toBe('ERR_NOT_INITIALIZED');
  });

  it('nothing when absent: no API, no API role', () => {
    const { stack: direct } = build({}, 'service');
    expect(direct.service).toBeUndefined();
    const types = Object.values(Template.fromStack(direct).toJSON().Resources as Resources).map(
      (r) => r.Type,
    );
    expect(types.filter((t) => t.startsWith('AWS::ApiGatewayV2'))).toEqual([]);
  });
});

describe('the Lambda role as the only writer', () => {
  it('knows the members’ and the call counts’ partitions as the store writes them', () => {
    expect(membersPartition(NS)).toBe(`${MEMBERS_PARTITION_PREFIX}${NS}`);
    expect(principalPartition('p')).toBe(`${PRINCIPAL_PARTITION_PREFIX}p`);
    expect(callsPartition('p')).toBe(`${CALLS_PARTITION_PREFIX}p`);
  });

  const roles = ofType('AWS::IAM::Role').map(([logical]) => logical);
  const CALLS = callsPartition(`${GITHUB_ISSUER}|repo:acme/web:ref:refs/heads/main`);
  const partitions = [
    NS,
    `audit#${NS}`,
    `anchor#${NS}`,
    `tokens#${NS}`,
    `usage#${NS}`,
    membersPartition(NS),
    CALLS,
  ];
  const mayWrite = itemWriteCheck(template, TABLE, resolve);
  const writers = async (action: string, attributes: string[] | undefined) => {
    const found: string[] = [];
    for (const role of roles)
      for (const partition of partitions)
        if (await mayWrite(role, action, partition, attributes)) found.push(`${role} ${partition}`);
    return found.sort();
  };
  const rotator = () => id(stack.rotator.role);
  const proxy = () => id(stack.proxy!.taskRole);

  it('is the only role that may write secrets, members and tokens; the rotator rotates, the proxy counts and records its reads', async () => {
    expect(await writers('dynamodb:PutItem', ['pk', 'sk', 'seq'])).toEqual(
      [
        `${lambdaRole} ${NS}`,
        `${lambdaRole} audit#${NS}`,
        `${lambdaRole} tokens#${NS}`,
        `${lambdaRole} ${membersPartition(NS)}`,
        `${rotator()} ${NS}`,
        `${rotator()} audit#${NS}`,
        `${rotator()} anchor#${NS}`,
        `${proxy()} audit#${NS}`,
      ].sort(),
    );
    expect(await writers('dynamodb:DeleteItem', ['pk', 'sk'])).toEqual(
      [`${lambdaRole} ${NS}`, `${lambdaRole} ${membersPartition(NS)}`].sort(),
    );
    expect(await writers('dynamodb:UpdateItem', ['pk', 'sk', 'n'])).toEqual(
      [
        `${lambdaRole} tokens#${NS}`,
        `${lambdaRole} ${CALLS}`,
        `${proxy()} tokens#${NS}`,
        `${proxy()} usage#${NS}`,
      ].sort(),
    );
  });

  it('may write expiresAt only on token records, and on call counts by UpdateItem alone', async () => {
    const found = await writers('dynamodb:PutItem', ['pk', 'sk', TTL_ATTRIBUTE]);
    expect(found.filter((w) => w.startsWith(lambdaRole))).toEqual([`${lambdaRole} tokens#${NS}`]);
    const updates = await writers('dynamodb:UpdateItem', ['pk', 'sk', 'calls', TTL_ATTRIBUTE]);
    expect(updates.filter((w) => w.startsWith(lambdaRole))).toEqual(
      [`${lambdaRole} tokens#${NS}`, `${lambdaRole} ${CALLS}`].sort(),
    );
    // Nobody else writes a caller's counts, or deletes them.
    expect(updates.filter((w) => w.endsWith(CALLS))).toEqual([`${lambdaRole} ${CALLS}`]);
    expect((await writers('dynamodb:DeleteItem', ['pk', 'sk'])).filter((w) => w.endsWith(CALLS))).toEqual([]);
  });

  it('may make a transaction item (no attributes named) only in the members’ partitions: never an audit record, a checkpoint or a secret', async () => {
    const found = await writers('dynamodb:PutItem', undefined);
    expect(found.filter((w) => w.startsWith(lambdaRole))).toEqual(
      [`${lambdaRole} tokens#${NS}`, `${lambdaRole} ${membersPartition(NS)}`].sort(),
    );
    const principal = principalPartition(`${GITHUB_ISSUER}|repo:acme/web:ref:refs/heads/main`);
    expect(await mayWrite(lambdaRole, 'dynamodb:PutItem', principal, undefined)).toBe(true);
    expect(await mayWrite(lambdaRole, 'dynamodb:PutItem', 'audit#@api', undefined)).toBe(false);
  });

  it('reads the account-wide kill switch and never writes it', async () => {
    for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'])
      expect(await mayWrite(lambdaRole, action, 'tokens##account', ['pk', 'sk'])).toBe(false);
    expect(await mayWrite(lambdaRole, 'dynamodb:GetItem', 'tokens##account', ['pk', 'sk'])).toBe(true);
  });

  it('may not scan the table', async () => {
    const decision = await simulate({
      principal: `arn:aws:iam::${ACCOUNT}:role/caller`,
      identity: roleStatementsFromTemplate(template, lambdaRole),
      request: { action: 'dynamodb:Scan', resource: TABLE, context: {} },
      resolve: orPlaceholder(resolve),
    });
    expect(decision).not.toBe('allow');
  });

  it('is named by the data key’s and the signing key’s policies', () => {
    const named = (key: { node: { defaultChild?: unknown } }) =>
      keyPolicyFromTemplate(template, id(key)).filter((s) =>
        JSON.stringify(s.Condition ?? {}).includes(`"${lambdaRole}"`),
      ).length;
    expect(named(stack.key)).toBeGreaterThan(0);
    expect(named(stack.signingKey)).toBeGreaterThan(0);
    expect(named(stack.anchorKey)).toBe(0);
  });
});

describe('cdk-nag', () => {
  it('passes the AwsSolutions pack with the service on, with no new acknowledgement', () => {
    const { app } = build({});
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).not.toThrow();
  });
});

describe('the API as the Lambda role, through the IAM gateway', () => {
  let sut: StackUnderTest;
  let api: ApiHarness;
  let gateway: NonNullable<RoleClients['gateway']>;
  const saved = { dynamodb: process.env.AWS_ENDPOINT_URL_DYNAMODB, kms: process.env.AWS_ENDPOINT_URL_KMS };
  let raw: Awaited<ReturnType<StackUnderTest['openAs']>>;

  beforeAll(async () => {
    sut = await synthesizeForTest({ grants: [], loginPool: LOGIN, service: { codePath: join(dir, 'api') } });
    raw = await sut.openAs(sut.stack.service!.role);
    gateway = raw.gateway!;
    // The API opens its own clients, which read the SDK's endpoint settings at their first
    // call: point them at the gateway until the suite ends.
    process.env.AWS_ENDPOINT_URL_DYNAMODB = gateway.dynamodbEndpoint;
    process.env.AWS_ENDPOINT_URL_KMS = gateway.kmsEndpoint;
    const home = join(dir, 'api-home');
    mkdirSync(home, { recursive: true });
    api = await startApiHarness({
      config: resolveConfig({
        env: {
          EGG_BACKEND: 'aws',
          EGG_TABLE: sut.table,
          EGG_KMS_KEY_ID: sut.keyArn,
          EGG_ROTATION: 'deferred',
          AWS_REGION: 'us-east-1',
          EGG_HOME: home,
        },
        home,
        cwd: home,
      }),
      // High enough never to refuse here: its counts go through the gateway as the role's writes.
      callLimit: { rps: 1000, burst: 1000 },
    });
  }, 120_000);
  afterAll(async () => {
    await api?.close();
    await sut?.close();
    process.env.AWS_ENDPOINT_URL_DYNAMODB = saved.dynamodb;
    process.env.AWS_ENDPOINT_URL_KMS = saved.kms;
  });

  it('creates a namespace, adds and removes a member, sets and reads a secret, all allowed', async () => {
    const owner = await api.person('owner-1');
    const path = `/v1/namespaces/${encodeURIComponent(NS)}`;
    expect((await api.call(owner, 'PUT', path)).status).toBe(201);
    const member = { issuer: 'github', subject: 'repo:acme@1001/web@2002:environment:prod', role: 'read' };
    expect((await api.call(owner, 'POST', `${path}/members`, member)).status).toBeLessThan(300);
    const value = Buffer.from('s3cret').toString('base64');
    expect((await api.call(owner, 'PUT', `${path}/secrets/API_KEY`, { value })).status).toBeLessThan(300);
    const read = await api.call(owner, 'GET', `${path}/secrets/API_KEY`);
    expect(read.body.value).toBe(value);
    const removed = await api.call(owner, 'POST', `${path}/members/remove`, member);
    expect(removed.status).toBeLessThan(300);
    expect(gateway.denied).toEqual([]);
    // The members' changes were transactions, item by item through the role's policies.
    const transacted = gateway.decisions.filter(
      (d) => d.context['dynamodb:EnclosingOperation'] === 'TransactWriteItems',
    );
    expect(transacted.map((d) => d.action)).toContain('dynamodb:PutItem');
    expect(gateway.decisions.some((d) => d.service === 'kms')).toBe(true);
    // Every call was counted against the caller's limit: an UpdateItem with expiresAt in calls#.
    const counted = gateway.decisions.filter(
      (d) => d.action === 'dynamodb:UpdateItem' && JSON.stringify(d.context).includes(CALLS_PARTITION_PREFIX),
    );
    expect(counted.length).toBeGreaterThanOrEqual(5);
    const trail = await api.audit(NS);
    expect(trail.map((r) => r.action)).toEqual(
      expect.arrayContaining(['member.add', 'set', 'read', 'member.remove']),
    );
  });

  it('refuses the role a transaction item in an audit trail, and expiresAt on an audit record', async () => {
    const record = { pk: { S: `audit#${NS}` }, sk: { S: 'A#999999' }, seq: { N: '999999' } };
    await expect(
      raw.dynamodb.send(
        new TransactWriteItemsCommand({ TransactItems: [{ Put: { TableName: sut.table, Item: record } }] }),
      ),
    ).rejects.toThrow(/AccessDenied|not authorized/);
    await expect(
      raw.dynamodb.send(
        new PutItemCommand({ TableName: sut.table, Item: { ...record, [TTL_ATTRIBUTE]: { N: '1' } } }),
      ),
    ).rejects.toThrow(/AccessDenied|not authorized/);
    // The call counter's write, aimed at a membership or an audit record, is refused there.
    for (const pk of [membersPartition(NS), `audit#${NS}`])
      await expect(
        raw.dynamodb.send(
          new UpdateItemCommand({
            TableName: sut.table,
            Key: { pk: { S: pk }, sk: { S: 'W#000000000001' } },
            UpdateExpression: 'SET #ttl = :t ADD calls :one',
            ExpressionAttributeNames: { '#ttl': TTL_ATTRIBUTE },
            ExpressionAttributeValues: { ':t': { N: '1' }, ':one': { N: '1' } },
          }),
        ),
      ).rejects.toThrow(/AccessDenied|not authorized/);
  });
});
