/**
 * The vault's conformance through the API (issue 16): set, get, list, rm and pull, with a new
 * data key after every read, exact bytes, and the vault's errors, through `egg api serve`'s
 * server and through the Lambda handler fed real API Gateway HTTP API (payload 2.0) events;
 * on SQLite, and on DynamoDB Local with moto's KMS. The Lambda handler checks the JWT itself:
 * an event whose gateway authorizer claims say "alice" carries no weight without her token.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpApiEvent, lambdaAdapter } from '../../src/api/lambda.js';
import { type ApiHarness, type Json, startApiHarness, startAwsApiHarness } from '../support/api-harness.js';

type Send = (
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: Json }>;

const CANARY = `canary-${randomBytes(6).toString('hex')}`;
const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64');

/** An HTTP API payload 2.0 event as API Gateway sends it for `ANY /v1/{proxy+}` with a JWT authorizer. */
export function httpApiEvent(
  method: string,
  target: string,
  options: { token?: string; body?: unknown; base64?: boolean; claims?: Record<string, string> } = {},
): HttpApiEvent {
  const [rawPath = '', rawQueryString = ''] = target.split('?');
  const text = options.body === undefined ? undefined : JSON.stringify(options.body);
  const host = 'a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com';
  return {
    version: '2.0',
    routeKey: 'ANY /v1/{proxy+}',
    rawPath,
    rawQueryString,
    headers: {
      accept: 'application/json',
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
      ...(text === undefined
        ? {}
        : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }),
      host,
      'user-agent': 'egg/0.1.0',
      'x-amzn-trace-id': `Root=1-${randomBytes(4).toString('hex')}-${randomBytes(12).toString('hex')}`,
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'https',
    },
    requestContext: {
      accountId: '123456789012',
      apiId: 'a1b2c3d4e5',
      authorizer: { jwt: { claims: options.claims ?? {}, scopes: null } },
      domainName: host,
      domainPrefix: 'a1b2c3d4e5',
      http: {
        method,
        path: decodeURIComponent(rawPath),
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: 'egg/0.1.0',
      },
      requestId: randomUUID(),
      routeKey: 'ANY /v1/{proxy+}',
      stage: '$default',
      time: '03/Dec/2026:13:00:00 +0000',
      timeEpoch: Date.now(),
    },
    pathParameters: { proxy: decodeURIComponent(rawPath.slice('/v1/'.length)) },
    ...(text === undefined
      ? {}
      : { body: options.base64 ? b64(text) : text, isBase64Encoded: options.base64 === true }),
    ...(text === undefined ? { isBase64Encoded: false } : {}),
  };
}

function conformance(name: string, start: () => Promise<ApiHarness>, transport: 'server' | 'lambda') {
  describe(`vault conformance through the API: ${name}`, () => {
    let api: ApiHarness;
    let alice: string;
    let send: Send;
    let ns: string;
    let path: string;
    beforeAll(async () => {
      api = await start();
      alice = await api.person('alice');
      if (transport === 'server') send = api.call;
      else {
        const lambda = lambdaAdapter(api.service.api);
        let flip = false;
        send = async (token, method, target, body) => {
          // Bodies alternate between plain and base64-encoded, as the gateway may send either.
          flip = !flip;
          const event = httpApiEvent(method, target, {
            ...(token === undefined ? {} : { token }),
            ...(body === undefined ? {} : { body }),
            base64: flip,
          });
          const result = await lambda(event);
          expect(result.headers['content-type']).toBe('application/json; charset=utf-8');
          return { status: result.statusCode, body: JSON.parse(result.body) };
        };
      }
      ns = `conf/${randomBytes(3).toString('hex')}`;
      path = `/v1/namespaces/${ns.replace('/', '%2F')}`;
      expect((await send(alice, 'PUT', path)).status).toBe(201);
    });
    afterAll(async () => api?.close());

    it('sets and gets exact bytes, with a new data key after every read', async () => {
      const bytes = Buffer.from([
        ...Array.from({ length: 256 }, (_, i) => i),
        ...Buffer.from(`\n"$\\ü ${CANARY}`),
      ]);
      const set = await send(alice, 'PUT', `${path}/secrets/BINARY`, { value: b64(bytes) });
      expect(set).toMatchObject({ status: 200, body: { name: 'BINARY', rev: 1, gen: 1 } });
      const first = await send(alice, 'GET', `${path}/secrets/BINARY`);
      const second = await send(alice, 'GET', `${path}/secrets/BINARY`);
      expect(Buffer.from(first.body.value, 'base64').equals(bytes)).toBe(true);
      expect(Buffer.from(second.body.value, 'base64').equals(bytes)).toBe(true);
      expect([first.body.gen, second.body.gen]).toEqual([1, 2]);
      expect((await send(alice, 'GET', `${path}/secrets`)).body.secrets).toEqual([
        expect.objectContaining({ name: 'BINARY', rev: 1, gen: 3 }),
      ]);
      const again = await send(alice, 'PUT', `${path}/secrets/BINARY`, { value: b64('short') });
      expect(again.body).toMatchObject({ rev: 2, gen: 4 });
    });

    it('lists metadata only, sorted, and pulls every secret or the named ones', async () => {
      for (const name of ['ZETA', 'ALPHA', 'MID'])
        await send(alice, 'PUT', `${path}/secrets/${name}`, { value: b64(`${name}-${CANARY}`) });
      const listed = await send(alice, 'GET', `${path}/secrets`);
      expect(listed.body.secrets.map((s: { name: string }) => s.name)).toEqual([
        'ALPHA',
        'BINARY',
        'MID',
        'ZETA',
      ]);
      expect(JSON.stringify(listed.body)).not.toContain(b64(`ALPHA-${CANARY}`));
      const all = await send(alice, 'POST', `${path}/pull`, {});
      expect(all.body.secrets.map((s: { name: string }) => s.name)).toEqual([
        'ALPHA',
        'BINARY',
        'MID',
        'ZETA',
      ]);
      expect(all.body.rotation).toEqual({ rotated: 4, skipped: 0, failed: 0, deferred: 0 });
      const named = await send(alice, 'POST', `${path}/pull`, { names: ['MID', 'ALPHA'] });
      expect(
        named.body.secrets.map((s: { name: string; value: string }) => [
          s.name,
          Buffer.from(s.value, 'base64').toString(),
        ]),
      ).toEqual([
        ['ALPHA', `ALPHA-${CANARY}`],
        ['MID', `MID-${CANARY}`],
      ]);
      const missing = await send(alice, 'POST', `${path}/pull`, { names: ['MID', 'NOPE'] });
      expect(missing).toMatchObject({ status: 404, body: { error: { code: 'ERR_SECRET_NOT_FOUND' } } });
      const allowed = await send(alice, 'POST', `${path}/pull`, {
        names: ['MID', 'NOPE'],
        allowMissing: true,
      });
      expect(allowed.body.missing).toEqual(['NOPE']);
    });

    it('removes once, and says what is wrong with a bad request in the vault’s words', async () => {
      expect((await send(alice, 'DELETE', `${path}/secrets/ZETA`)).status).toBe(200);
      expect((await send(alice, 'DELETE', `${path}/secrets/ZETA`)).body.error.code).toBe(
        'ERR_SECRET_NOT_FOUND',
      );
      expect((await send(alice, 'GET', `${path}/secrets/ZETA`)).status).toBe(404);
      const big = await send(alice, 'PUT', `${path}/secrets/BIG`, {
        value: b64(Buffer.alloc(64 * 1024 + 1)),
      });
      expect(big).toMatchObject({ status: 400, body: { error: { code: 'ERR_INVALID_VALUE' } } });
      const badName = await send(alice, 'PUT', `${path}/secrets/1BAD`, { value: b64('x') });
      expect(badName).toMatchObject({ status: 400, body: { error: { code: 'ERR_INVALID_NAME' } } });
      const notJson = await send(alice, 'PUT', `${path}/secrets/X`, 'just a string');
      expect(notJson.status).toBe(400);
    });

    it('keeps the canary out of the audit trail', async () => {
      const trail = JSON.stringify(await api.audit(ns));
      for (const form of [CANARY, b64(CANARY), Buffer.from(CANARY).toString('hex')])
        expect(trail).not.toContain(form);
      expect((await send(alice, 'GET', `${path}/audit/verify`)).body.ok).toBe(true);
    });
  });
}

conformance('egg api serve on SQLite', () => startApiHarness(), 'server');
conformance('the Lambda handler on SQLite', () => startApiHarness(), 'lambda');
conformance('the Lambda handler on DynamoDB Local and KMS', () => startAwsApiHarness(), 'lambda');

describe('the Lambda handler', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await startApiHarness();
  });
  afterAll(async () => api?.close());

  it('refuses an event whose authorizer claims name a caller its token does not prove (defence in depth), before any handler runs', async () => {
    const lambda = lambdaAdapter(api.service.api);
    const forged = api.people.unsigned({ sub: 'alice', aud: 'egg-cli' });
    for (const token of [undefined, forged]) {
      const result = await lambda(
        httpApiEvent('GET', '/v1/namespaces', {
          ...(token === undefined ? {} : { token }),
          claims: { sub: 'alice', iss: api.people.issuer },
        }),
      );
      expect(result.statusCode).toBe(401);
    }
    expect(api.calls.size).toBe(0);
  });

  it('refuses a body over the limit unread, and an event of another payload format', async () => {
    const lambda = lambdaAdapter(api.service.api);
    const alice = await api.person('alice');
    const big = await lambda(
      httpApiEvent('PUT', '/v1/namespaces/x/secrets/A', {
        token: alice,
        body: { value: 'A'.repeat(200_000) },
      }),
    );
    expect(big.statusCode).toBe(413);
    await expect(lambda({ ...httpApiEvent('GET', '/v1/namespaces'), version: '1.0' })).rejects.toThrow(
      TypeError,
    );
    expect(api.calls.size).toBe(0);
  });
});
