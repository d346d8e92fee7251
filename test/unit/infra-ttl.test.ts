/**
 * TTL as a delete (issue 9, item 15), on the synthesized template: every role of the stack
 * (grants, rotator, proxy task and execution roles), evaluated with the IAM simulator
 * (test/support/iam-simulator.ts) for writes that carry `expiresAt`, may write it only where a minting grant keeps its own
 * token records. test/integration/ttl-writes.test.ts makes the same requests for real.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { buildStack } from '../../infra/app.js';
import { parseGrants } from '../../infra/grants.js';
import { TTL_ATTRIBUTE } from '../../infra/ttl.js';
import { TTL_ATTRIBUTE as STORE_TTL_ATTRIBUTE } from '../../src/stores/dynamodb.js';
import { cfnResolver } from '../support/iam-policy.js';
import { itemWriteCheck } from '../support/iam-simulator.js';

const ACCOUNT = '123456789012';
const TABLE = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/egg-carton`;
const [READER, MINTER, WRITER] = ['acme/web/prod', 'acme/api/prod', 'acme/ops/prod'];

const dir = mkdtempSync(join(tmpdir(), 'egg-infra-ttl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'rotator'));
writeFileSync(join(dir, 'rotator', 'index.js'), 'exports.handler = async () => ({});\n');
const { stack } = buildStack({
  grants: parseGrants(
    JSON.stringify([
      { namespace: READER, subjects: ['repo:acme@1001/web@2002:environment:prod'] },
      { namespace: MINTER, subjects: ['repo:acme@1001/api@2003:ref:refs/tags/v*'], mintTokens: true },
      { namespace: WRITER, subjects: ['repo:acme@1001/ops@2004:environment:prod'], manageSecrets: true },
    ]),
  ),
  githubOidcProviderArn: `arn:aws:iam::${ACCOUNT}:oidc-provider/token.actions.githubusercontent.com`,
  rotatorCodePath: join(dir, 'rotator'),
  outdir: join(dir, 'cdk.out'),
  proxy: { enabled: true, certificateArn: `arn:aws:acm:us-east-1:${ACCOUNT}:certificate/x` },
});
const template = Template.fromStack(stack).toJSON() as Record<string, unknown>;
const resolve = cfnResolver({ account: ACCOUNT, region: 'us-east-1', template });
const roles = Object.entries(template.Resources as Record<string, { Type: string }>)
  .filter(([, resource]) => resource.Type === 'AWS::IAM::Role')
  .map(([id]) => id);
const minterRole = stack.getLogicalId(stack.roles.get(MINTER)?.node.defaultChild as never);
const proxyRole = stack.getLogicalId(stack.proxy?.taskRole.node.defaultChild as never);
const partitions = [READER, MINTER, WRITER].flatMap((n) => [n, `audit#${n}`, `tokens#${n}`, `usage#${n}`]);

/** Whether `role` may make a write on `partition` whose request names `attributes` (none: undefined). */
const mayWrite = itemWriteCheck(template, TABLE, resolve);
/** The partitions on which `role` may make the write. */
const writablePartitions = async (role: string, action: string, attributes: string[] | undefined) => {
  const allowed: string[] = [];
  for (const partition of partitions)
    if (await mayWrite(role, action, partition, attributes)) allowed.push(partition);
  return allowed;
};

describe('the TTL attribute', () => {
  it('is the one the stores write and the table reaps', () => {
    expect(TTL_ATTRIBUTE).toBe(STORE_TTL_ATTRIBUTE);
    expect(
      Object.values(
        template.Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>,
      )
        .filter((r) => r.Type === 'AWS::DynamoDB::Table')
        .map((r) => r.Properties.TimeToLiveSpecification),
    ).toEqual([{ AttributeName: TTL_ATTRIBUTE, Enabled: true }]);
  });

  it('covers every role of the stack: the grants, the rotator and the proxy', () => {
    expect(roles.length).toBeGreaterThanOrEqual(6);
  });

  it.each(['dynamodb:PutItem', 'dynamodb:UpdateItem'])(
    'refuses %s carrying expiresAt to every role but a minting one, in its own token partition, and the proxy, in the usage partitions',
    async (action) => {
      const allowed: string[] = [];
      for (const role of roles)
        for (const partition of await writablePartitions(role, action, ['pk', 'sk', TTL_ATTRIBUTE]))
          allowed.push(`${role} ${partition}`);
      expect(allowed.sort()).toEqual(
        [
          `${minterRole} tokens#${MINTER}`,
          ...(action === 'dynamodb:UpdateItem'
            ? [READER, MINTER, WRITER].map((n) => `${proxyRole} usage#${n}`)
            : []),
        ].sort(),
      );
    },
  );

  it.each(['dynamodb:PutItem', 'dynamodb:UpdateItem'])(
    'refuses %s that names no attributes (a transaction item) to the same roles',
    async (action) => {
      const allowed: string[] = [];
      for (const role of roles)
        for (const partition of await writablePartitions(role, action, undefined))
          allowed.push(`${role} ${partition}`);
      expect(allowed.sort()).toEqual(
        [
          `${minterRole} tokens#${MINTER}`,
          ...(action === 'dynamodb:UpdateItem'
            ? [READER, MINTER, WRITER].map((n) => `${proxyRole} usage#${n}`)
            : []),
        ].sort(),
      );
    },
  );

  it('still lets every writer write what it writes without expiresAt', async () => {
    const writes = (role: string, action: string) => writablePartitions(role, action, ['pk', 'sk', 'seq']);
    const id = (construct: { node: { defaultChild?: unknown } }) =>
      stack.getLogicalId(construct.node.defaultChild as never);
    expect(await writes(id(stack.roles.get(READER) as never), 'dynamodb:PutItem')).toEqual([
      `audit#${READER}`,
    ]);
    expect(await writes(minterRole, 'dynamodb:PutItem')).toEqual([`audit#${MINTER}`, `tokens#${MINTER}`]);
    expect(await writes(id(stack.roles.get(WRITER) as never), 'dynamodb:PutItem')).toEqual([
      WRITER,
      `audit#${WRITER}`,
    ]);
    expect(await writes(id(stack.rotator.role), 'dynamodb:PutItem')).toEqual(
      [READER, MINTER, WRITER].flatMap((n) => [n, `audit#${n}`]),
    );
    expect(await writes(id(stack.proxy?.taskRole as never), 'dynamodb:UpdateItem')).toEqual(
      [READER, MINTER, WRITER].flatMap((n) => [`tokens#${n}`, `usage#${n}`]),
    );
  });
});
