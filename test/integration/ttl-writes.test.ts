/**
 * TTL as a delete (issue 9, item 15): the table deletes any item whose `expiresAt` is past,
 * so writing that attribute is deleting. Only a minting role, on its own token records, may
 * write it; every other writer of the synthesized stack (a read-only grant appending its
 * audit records, a grant that manages secrets, a minting grant outside its token partition,
 * the rotator, the proxy's spend updates) is refused by AWS's rules when its request names
 * `expiresAt`, however it names it: in the item, in an update expression behind a
 * placeholder, in the legacy `AttributeUpdates`, or inside a transaction (for which AWS
 * documents no `dynamodb:Attributes`, the empty-set pitfall). The product's own writes all
 * still pass. Real SDK requests on DynamoDB Local, through the IAM gateway enforcing the
 * synthesized template (test/support/stack-roles.ts).
 */
import { randomBytes } from 'node:crypto';
import {
  type AttributeValue,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGrants } from '../../infra/grants.js';
import { parseSecrets } from '../../src/formats/parse.js';
import type { TokenRecord } from '../../src/tokens/token-store.js';
import { emptyCounts, type UsageStore } from '../../src/tokens/usage-store.js';
import { Vault } from '../../src/vault/vault.js';
import { type RoleClients, type StackUnderTest, synthesizeForTest } from '../support/stack-roles.js';

const suffix = randomBytes(3).toString('hex');
const READER = `ttl-r-${suffix}/web`;
const MINTER = `ttl-m-${suffix}/web`;
const WRITER = `ttl-w-${suffix}/web`;
/** A TTL in the past: DynamoDB would delete the item within days of the write. */
const PAST = { N: String(Math.floor(Date.now() / 1000) - 86_400) };

let sut: StackUnderTest;
let admin: RoleClients;

beforeAll(async () => {
  sut = await synthesizeForTest({
    grants: parseGrants(
      JSON.stringify([
        { namespace: READER, subjects: ['repo:acme@1001/web@2002:environment:prod'] },
        { namespace: MINTER, subjects: ['repo:acme@1001/web@2002:ref:refs/tags/v*'], mintTokens: true },
        { namespace: WRITER, subjects: ['repo:acme@1001/ops@2004:environment:prod'], manageSecrets: true },
      ]),
    ),
    proxy: { enabled: true, certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e' },
  });
  admin = await sut.openAs(undefined);
  for (const namespace of [READER, MINTER, WRITER])
    await new Vault({ ...admin, namespace, actor: 'user:admin' }).set('API_KEY', Buffer.from('v'));
});

afterAll(async () => {
  await sut?.close();
});

const role = (namespace: string) => sut.stack.roles.get(namespace);
const proxyRole = () => sut.stack.proxy?.taskRole;
const key = (pk: string, sk: string) => ({ pk: { S: pk }, sk: { S: sk } });
const put = (clients: RoleClients, item: Record<string, AttributeValue>) =>
  clients.dynamodb.send(new PutItemCommand({ TableName: sut.table, Item: item }));
/** The newest audit record of a namespace, as stored (every namespace has one: the admin's set). */
const newestAudit = async (namespace: string) => {
  const { Items } = await admin.dynamodb.send(
    new QueryCommand({
      TableName: sut.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': { S: `audit#${namespace}` } },
      ScanIndexForward: false,
      Limit: 1,
    }),
  );
  if (Items?.[0] === undefined) throw new Error(`no audit record in ${namespace}`);
  return Items[0];
};
const secretItem = async (namespace: string) => {
  const { Item } = await admin.dynamodb.send(
    new GetItemCommand({ TableName: sut.table, Key: key(namespace, 'S#API_KEY') }),
  );
  if (Item === undefined) throw new Error(`no API_KEY in ${namespace}`);
  return Item;
};
/** The attack: the same item again, so DynamoDB deletes it once `expiresAt` is past. */
const expiring = (item: Record<string, AttributeValue>) => ({ ...item, expiresAt: PAST });
const denied = { name: 'AccessDeniedException' };
const tokenRecord = (namespace: string, id: string): TokenRecord => ({
  id,
  digest: `digest-${id}`,
  namespace,
  key: 'API_KEY',
  origins: ['https://app.example'],
  allowNoOrigin: false,
  rps: 10,
  burst: 10,
  spend: 100,
  cost: 1,
  iat: Math.floor(Date.now() / 1000),
  exp: Math.floor(Date.now() / 1000) + 3600,
  tags: {},
  actor: 'job:mint',
});
const stored = async (pk: string, sk: string) =>
  (await admin.dynamodb.send(new GetItemCommand({ TableName: sut.table, Key: key(pk, sk) }))).Item;

describe('a read-only grant', () => {
  it('refuses its PutItem of an audit record carrying expiresAt', async () => {
    const reader = await sut.openAs(role(READER));
    const record = await newestAudit(READER);
    await expect(put(reader, expiring(record))).rejects.toMatchObject(denied);
    expect(reader.gateway?.denied.at(-1)).toMatchObject({
      action: 'dynamodb:PutItem',
      decision: 'deny',
      statement: 'NoTtlWrites',
      context: expect.objectContaining({
        'dynamodb:LeadingKeys': [`audit#${READER}`],
        'dynamodb:Attributes': expect.arrayContaining(['expiresAt']),
      }),
    });
    expect(await newestAudit(READER)).toEqual(record);
  });

  it('refuses the same put inside a transaction, where AWS documents no dynamodb:Attributes', async () => {
    const reader = await sut.openAs(role(READER));
    const record = await newestAudit(READER);
    const transaction = new TransactWriteItemsCommand({
      TransactItems: [{ Put: { TableName: sut.table, Item: expiring(record) } }],
    });
    await expect(reader.dynamodb.send(transaction)).rejects.toMatchObject(denied);
    expect(reader.gateway?.denied.at(-1)).toMatchObject({
      decision: 'deny',
      statement: 'NoUnnamedWrites',
      context: expect.objectContaining({ 'dynamodb:EnclosingOperation': 'TransactWriteItems' }),
    });
    expect(reader.gateway?.denied.at(-1)?.context['dynamodb:Attributes']).toBeUndefined();
    expect(await newestAudit(READER)).toEqual(record);
  });

  it('still reads with deferred rotation and appends its read record', async () => {
    const reader = await sut.openAs(role(READER));
    const vault = new Vault({ ...reader, namespace: READER, actor: 'job:r', rotation: 'deferred' });
    const { secrets } = await vault.pull(['API_KEY']);
    expect(secrets.map((s) => s.value.toString())).toEqual(['v']);
    expect(reader.gateway?.denied).toEqual([]);
  });
});

describe('a grant that manages secrets', () => {
  it('refuses its PutItem of a secret carrying expiresAt, and still sets secrets', async () => {
    const writer = await sut.openAs(role(WRITER));
    const item = await secretItem(WRITER);
    await expect(put(writer, expiring(item))).rejects.toMatchObject(denied);
    expect(await secretItem(WRITER)).toEqual(item);
    await new Vault({ ...writer, namespace: WRITER, actor: 'job:w' }).set('DB_URL', Buffer.from('db'));
    await new Vault({ ...writer, namespace: WRITER, actor: 'job:w' }).remove('DB_URL');
    expect(writer.gateway?.denied).toEqual([expect.objectContaining({ action: 'dynamodb:PutItem' })]);
  });
});

describe('a grant that manages secrets, importing', () => {
  const envFile = (values: Record<string, string>) =>
    Buffer.from(
      Object.entries(values)
        .map(([name, value]) => `${name}='${value}'\n`)
        .join(''),
    );
  const values = async (vault: Vault) => {
    const { secrets } = await vault.pull();
    return Object.fromEntries(secrets.map((s) => [s.name, s.value.toString()]));
  };

  it('imports a .env through a deployed grant role', async () => {
    const writer = await sut.openAs(role(WRITER));
    const vault = new Vault({ ...writer, namespace: WRITER, actor: 'job:w' });
    const first = parseSecrets(envFile({ IMP_A: 'a1', IMP_B: 'b1', IMP_C: 'c1' })).secrets;
    expect(await vault.import(first)).toEqual({
      added: ['IMP_A', 'IMP_B', 'IMP_C'],
      changed: [],
      unchanged: [],
    });
    const second = parseSecrets(envFile({ IMP_A: 'a2', IMP_B: 'b2', IMP_C: 'c1' })).secrets;
    expect(await vault.import(second)).toEqual({
      added: [],
      changed: ['IMP_A', 'IMP_B'],
      unchanged: ['IMP_C'],
    });
    expect(await values(vault)).toMatchObject({ IMP_A: 'a2', IMP_B: 'b2', IMP_C: 'c1' });
    expect((await vault.history('IMP_A')).map((v) => v.rev)).toEqual([2, 1]);
    expect(writer.gateway?.denied).toEqual([]);
  });

  it('finishes an import cut short when it is run again, leaving what it wrote alone', async () => {
    const writer = await sut.openAs(role(WRITER));
    const vault = new Vault({ ...writer, namespace: WRITER, actor: 'job:w' });
    const file = envFile({ CUT_A: 'a', CUT_B: 'b', CUT_C: 'c' });
    // A process that died after writing CUT_A of the three.
    await vault.set('CUT_A', Buffer.from('a'));
    expect(await vault.import(parseSecrets(file).secrets)).toEqual({
      added: ['CUT_B', 'CUT_C'],
      changed: [],
      unchanged: ['CUT_A'],
    });
    expect(await vault.import(parseSecrets(file).secrets)).toMatchObject({ added: [], changed: [] });
    expect(await values(vault)).toMatchObject({ CUT_A: 'a', CUT_B: 'b', CUT_C: 'c' });
    expect((await vault.history('CUT_A')).map((v) => v.rev)).toEqual([1]);
    expect(writer.gateway?.denied).toEqual([]);
  });

  it('removes a secret with kept versions through a deployed grant role (a transaction of Deletes is authorized as DeleteItem)', async () => {
    const writer = await sut.openAs(role(WRITER));
    const vault = new Vault({ ...writer, namespace: WRITER, actor: 'job:w' });
    await vault.set('RM_ME', Buffer.from('one'));
    await vault.set('RM_ME', Buffer.from('two'));
    expect((await writer.store.versionRevs(WRITER, ['RM_ME'])).get('RM_ME')).toEqual([1]);
    await vault.remove('RM_ME');
    expect(await writer.store.getSecrets(WRITER, ['RM_ME'])).toEqual([]);
    expect((await writer.store.versionRevs(WRITER, ['RM_ME'])).get('RM_ME')).toBeUndefined();
    expect(writer.gateway?.denied).toEqual([]);
  });
});

describe('a grant that mints tokens', () => {
  it('writes its token records and revocations with expiresAt', async () => {
    const minter = await sut.openAs(role(MINTER));
    await minter.tokens.putToken(tokenRecord(MINTER, 'tk1'));
    await minter.tokens.revoke(MINTER, [{ id: 'tk0', exp: tokenRecord(MINTER, 'tk0').exp }]);
    expect(minter.gateway?.denied).toEqual([]);
    expect((await stored(`tokens#${MINTER}`, 'TK#tk1'))?.expiresAt).toBeDefined();
    expect((await stored(`tokens#${MINTER}`, 'RV#t#tk0'))?.expiresAt).toBeDefined();
  });

  it('refuses its PutItem of an audit record carrying expiresAt', async () => {
    const minter = await sut.openAs(role(MINTER));
    const record = await newestAudit(MINTER);
    await expect(put(minter, expiring(record))).rejects.toMatchObject(denied);
    expect(await newestAudit(MINTER)).toEqual(record);
  });
});

describe('the rotator', () => {
  it('refuses its PutItem of a secret or an audit record carrying expiresAt', async () => {
    const rotator = await sut.openAs(sut.stack.rotator.role);
    const [item, record] = [await secretItem(WRITER), await newestAudit(WRITER)];
    await expect(put(rotator, expiring(item))).rejects.toMatchObject(denied);
    await expect(put(rotator, expiring(record))).rejects.toMatchObject(denied);
    expect(await secretItem(WRITER)).toEqual(item);
    expect(await newestAudit(WRITER)).toEqual(record);
  });
});

describe('the proxy', () => {
  it('refuses a spend UpdateItem that also sets expiresAt, by placeholder or by AttributeUpdates', async () => {
    const minter = await sut.openAs(role(MINTER));
    await minter.tokens.putToken(tokenRecord(MINTER, 'tk2'));
    const before = await stored(`tokens#${MINTER}`, 'TK#tk2');
    const proxy = await sut.openAs(proxyRole());
    const tokenKey = key(`tokens#${MINTER}`, 'TK#tk2');
    await expect(
      proxy.dynamodb.send(
        new UpdateItemCommand({
          TableName: sut.table,
          Key: tokenKey,
          UpdateExpression: 'ADD spent :c SET #e = :t',
          ExpressionAttributeNames: { '#e': 'expiresAt' },
          ExpressionAttributeValues: { ':c': { N: '1' }, ':t': PAST },
        }),
      ),
    ).rejects.toMatchObject(denied);
    await expect(
      proxy.dynamodb.send(
        new UpdateItemCommand({
          TableName: sut.table,
          Key: tokenKey,
          AttributeUpdates: { expiresAt: { Action: 'PUT', Value: PAST } },
        }),
      ),
    ).rejects.toMatchObject(denied);
    // The revocation head of any namespace is in reach too: its TTL stays unwritten.
    await expect(
      proxy.dynamodb.send(
        new UpdateItemCommand({
          TableName: sut.table,
          Key: key(`tokens#${MINTER}`, 'RV#head'),
          UpdateExpression: 'SET expiresAt = :t',
          ExpressionAttributeValues: { ':t': PAST },
        }),
      ),
    ).rejects.toMatchObject(denied);
    expect(await stored(`tokens#${MINTER}`, 'TK#tk2')).toEqual(before);
    expect((await stored(`tokens#${MINTER}`, 'RV#head'))?.expiresAt).toBeUndefined();
  });

  it('writes its usage as the proxy does: counters and client set with expiresAt in usage#, a throttle and its lift in one write on the head, an alert', async () => {
    const minter = await sut.openAs(role(MINTER));
    await minter.tokens.putToken(tokenRecord(MINTER, 'tk4'));
    const proxy = await sut.openAs(proxyRole());
    const store = proxy.tokens as typeof proxy.tokens & UsageStore;
    const window = Math.floor(Date.now() / 60_000) * 60;
    const [totals] = await store.addUsage([
      { namespace: MINTER, id: 'tk4', window, ...emptyCounts(), requests: 3, clients: ['cA', 'cB'] },
    ]);
    expect(totals).toMatchObject({ counts: { requests: 3 }, clients: ['cA', 'cB'] });
    expect((await stored(`usage#${MINTER}`, `U#tk4#${String(window).padStart(10, '0')}`))?.expiresAt).toEqual(
      {
        N: String(window + 86_400),
      },
    );
    const now = Math.floor(Date.now() / 1000);
    expect(
      await store.setThrottle(MINTER, 'tk4', { rule: 'rate-spike', rps: 1, since: now, until: now + 60 }),
    ).toBe(true);
    expect(await store.liftThrottle(MINTER, 'tk4', now + 1)).toBe(true);
    await store.recordAlert({
      namespace: MINTER,
      id: 'al1',
      tokenId: 'tk4',
      rule: 'rate-spike',
      figures: { requests: 3 },
      time: new Date().toISOString(),
    });
    expect(proxy.gateway?.denied).toEqual([]);
    // The head holds the throttle; it never carries expiresAt.
    expect((await stored(`tokens#${MINTER}`, 'RV#head'))?.expiresAt).toBeUndefined();
    // The same counter write aimed at the token partition is refused: expiresAt is only for usage#.
    await expect(
      proxy.dynamodb.send(
        new UpdateItemCommand({
          TableName: sut.table,
          Key: key(`tokens#${MINTER}`, `U#tk4#${String(window).padStart(10, '0')}`),
          UpdateExpression: 'SET expiresAt = :t ADD requests :one',
          ExpressionAttributeValues: { ':t': PAST, ':one': { N: '1' } },
        }),
      ),
    ).rejects.toMatchObject(denied);
  });

  it('refuses its audit append carrying expiresAt', async () => {
    const proxy = await sut.openAs(proxyRole());
    const record = await newestAudit(READER);
    await expect(put(proxy, expiring(record))).rejects.toMatchObject(denied);
    expect(await newestAudit(READER)).toEqual(record);
  });

  it('still reserves and settles spend on a token record and appends its read records', async () => {
    const minter = await sut.openAs(role(MINTER));
    await minter.tokens.putToken(tokenRecord(MINTER, 'tk3'));
    const proxy = await sut.openAs(proxyRole());
    await expect(proxy.tokens.reserveSpend(MINTER, 'tk3', 'digest-tk3', 1, 100)).resolves.toEqual({
      ok: true,
      spent: 1,
    });
    await expect(proxy.tokens.reserveSpend(MINTER, 'tk3', 'another', 1, 100)).resolves.toEqual({
      ok: false,
      reason: 'unknown-token',
    });
    // A priced request's settlement (docs/spend.md): the same kind of write on the same record.
    await proxy.tokens.adjustSpend(MINTER, 'tk3', 'digest-tk3', 40);
    // A give-back past the counter changes nothing: 41 stays.
    await proxy.tokens.adjustSpend(MINTER, 'tk3', 'digest-tk3', -100);
    await proxy.tokens.adjustSpend(MINTER, 'tk3', 'digest-tk3', -1);
    await expect(proxy.tokens.reserveSpend(MINTER, 'tk3', 'digest-tk3', 60, 100)).resolves.toEqual({
      ok: true,
      spent: 100,
    });
    const vault = new Vault({ ...proxy, namespace: MINTER, actor: 'proxy', rotation: 'deferred' });
    await vault.pull(['API_KEY']);
    expect(proxy.gateway?.denied).toEqual([]);
  });
});
