/**
 * The path through API Gateway (docs/service.md): an HTTP API hands the Lambda `rawPath`
 * percent-decoded (a namespace's `%2F` arrives as `/`), while `egg api serve` and the tests
 * of the other adapters see it as sent. The Lambda handler must find the same route in both
 * shapes and never read one namespace's request as another's: a decoded path that two
 * namespaces could claim is refused, before any handler runs.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpApiEvent, lambdaAdapter } from '../../src/api/lambda.js';
import { parseDecodedRoute, parseRoute } from '../../src/api/routes.js';
import { type ApiHarness, startApiHarness } from '../support/api-harness.js';

/** An HTTP API 2.0 event for `target` as sent; `decoded` as API Gateway HTTP APIs hand it over. */
function event(
  method: string,
  target: string,
  token: string,
  shape: 'sent' | 'decoded',
  body?: unknown,
): HttpApiEvent {
  const [sent = '', rawQueryString = ''] = target.split('?');
  const rawPath = shape === 'decoded' ? decodeURIComponent(sent) : sent;
  const text = body === undefined ? undefined : JSON.stringify(body);
  return {
    version: '2.0',
    routeKey: `${method} /v1/namespaces/{proxy+}`,
    rawPath,
    rawQueryString,
    headers: {
      authorization: `Bearer ${token}`,
      ...(text === undefined ? {} : { 'content-type': 'application/json' }),
    },
    requestContext: {
      http: { method, path: decodeURIComponent(sent), protocol: 'HTTP/1.1', sourceIp: '203.0.113.7' },
      requestId: randomUUID(),
      stage: '$default',
    },
    ...(text === undefined ? { isBase64Encoded: false } : { body: text, isBase64Encoded: false }),
  };
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('parseDecodedRoute', () => {
  it('finds the route parseRoute finds in the path as sent, for every route shape', () => {
    const cases: [string, string][] = [
      ['PUT', '/v1/namespaces/acme%2Fweb%2Fprod'],
      ['GET', '/v1/namespaces/acme%2Fweb/secrets'],
      ['GET', '/v1/namespaces/acme%2Fweb/secrets/API_KEY'],
      ['POST', '/v1/namespaces/acme%2Fweb/pull'],
      ['POST', '/v1/namespaces/acme%2Fweb/tokens/revoke'],
      ['GET', '/v1/namespaces/acme%2Fweb/audit/verify'],
      ['POST', '/v1/namespaces/acme%2Fweb/members/remove'],
      ['GET', '/v1/namespaces/acme/members'],
    ];
    for (const [method, path] of cases)
      expect(parseDecodedRoute(method, decodeURIComponent(path), '')).toEqual(parseRoute(method, path, ''));
  });

  it('refuses a decoded path two namespaces could claim, naming both', () => {
    // acme + secrets.get("tokens"), or acme/secrets + tokens.list.
    expect(() => parseDecodedRoute('GET', '/v1/namespaces/acme/secrets/tokens', '')).toThrow(
      /could name namespace acme or acme\/secrets/,
    );
  });

  it('parses a path that kept its escapes as sent', () => {
    expect(parseDecodedRoute('GET', '/v1/namespaces/acme%2Fweb/secrets', '').namespace).toBe('acme/web');
  });

  it('gives parseRoute’s own refusal when no split parses', () => {
    expect(() => parseDecodedRoute('GET', '/v1/namespaces/acme/../evil/secrets', '')).toThrow();
    expect(() => parseDecodedRoute('GET', '/v1/namespaces/Acme/web/secrets', '')).toThrow();
  });
});

describe('the Lambda handler, with rawPath as sent and as API Gateway decodes it', () => {
  let api: ApiHarness;
  let tokens: { alice: string; bob: string };
  beforeAll(async () => {
    api = await startApiHarness();
    tokens = { alice: await api.person('alice'), bob: await api.person('bob') };
    // Alice owns acme/web; Bob owns acme (a prefix of Alice's namespace) and a secret there.
    expect((await api.call(tokens.alice, 'PUT', '/v1/namespaces/acme%2Fweb')).status).toBe(201);
    expect((await api.call(tokens.bob, 'PUT', '/v1/namespaces/acme')).status).toBe(201);
    for (const [token, ns, value] of [
      [tokens.alice, 'acme%2Fweb', 'alice-value'],
      [tokens.bob, 'acme', 'bob-value'],
    ] as const)
      expect(
        (await api.call(token, 'PUT', `/v1/namespaces/${ns}/secrets/API_KEY`, { value: b64(value) })).status,
      ).toBe(200);
  });
  afterAll(async () => api?.close());

  it.each(['sent', 'decoded'] as const)('reads alice’s secret in acme/web (rawPath %s)', async (shape) => {
    const lambda = lambdaAdapter(api.service.api);
    const result = await lambda(
      event('GET', '/v1/namespaces/acme%2Fweb/secrets/API_KEY', tokens.alice, shape),
    );
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body).value).toBe(b64('alice-value'));
  });

  it.each(['sent', 'decoded'] as const)(
    'never reads Bob’s acme for a request on acme/web, nor the reverse (rawPath %s)',
    async (shape) => {
      const lambda = lambdaAdapter(api.service.api);
      const bobOnAlice = await lambda(
        event('GET', '/v1/namespaces/acme%2Fweb/secrets/API_KEY', tokens.bob, shape),
      );
      expect(bobOnAlice.statusCode).toBe(404);
      const aliceOnBob = await lambda(
        event('GET', '/v1/namespaces/acme/secrets/API_KEY', tokens.alice, shape),
      );
      expect(aliceOnBob.statusCode).toBe(404);
      expect(aliceOnBob.body).not.toContain(b64('bob-value'));
    },
  );

  it('takes the same routes under /ci, the prefix dropped once', async () => {
    const lambda = lambdaAdapter(api.service.api);
    const ci = await lambda(
      event('GET', '/ci/v1/namespaces/acme%2Fweb/secrets/API_KEY', tokens.alice, 'decoded'),
    );
    expect(ci.statusCode).toBe(200);
    const twice = await lambda(
      event('GET', '/ci/ci/v1/namespaces/acme%2Fweb/secrets/API_KEY', tokens.alice, 'decoded'),
    );
    expect(twice.statusCode).toBe(404);
  });

  it('refuses an ambiguous decoded path with 400 and runs no handler', async () => {
    const lambda = lambdaAdapter(api.service.api);
    const before = api.calls.get('secrets.get') ?? 0;
    const listed = api.calls.get('tokens.list') ?? 0;
    const result = await lambda(event('GET', '/v1/namespaces/acme%2Fsecrets/tokens', tokens.bob, 'decoded'));
    expect(result.statusCode).toBe(400);
    expect(api.calls.get('secrets.get') ?? 0).toBe(before);
    expect(api.calls.get('tokens.list') ?? 0).toBe(listed);
  });
});
