/**
 * The lifecycle routes (issue 16, items 1 and 4): rollback, import, the versions kept, the
 * sealing key and a sealed key, the kill switch, token usage and unthrottle. Each parses to
 * its route with the least role it needs, in the path as sent and as API Gateway decodes it,
 * and the shapes around them are refused as every other route's are.
 */
import { describe, expect, it } from 'vitest';
import { parseDecodedRoute, parseRoute } from '../../src/api/routes.js';

describe('the lifecycle routes', () => {
  it.each([
    [
      'POST',
      '/v1/namespaces/acme%2Fweb/secrets/DB_URL/rollback',
      '',
      { name: 'secrets.rollback', namespace: 'acme/web', secret: 'DB_URL', role: 'write', query: {} },
    ],
    ['POST', '/v1/namespaces/acme%2Fweb/import', '', { name: 'secrets.import', role: 'write' }],
    ['GET', '/v1/namespaces/acme%2Fweb/keep', '', { name: 'secrets.kept', role: 'read' }],
    ['POST', '/v1/namespaces/acme%2Fweb/keep', '', { name: 'secrets.keep', role: 'admin' }],
    ['GET', '/v1/namespaces/acme%2Fweb/sealing-key', '', { name: 'secrets.sealing-key', role: 'read' }],
    [
      'POST',
      '/v1/namespaces/acme%2Fweb/secrets/OPENAI_KEY/seal',
      '',
      { name: 'secrets.seal', namespace: 'acme/web', secret: 'OPENAI_KEY', role: 'write', query: {} },
    ],
    ['POST', '/v1/namespaces/acme%2Fweb/tokens/killswitch', '', { name: 'tokens.killswitch', role: 'admin' }],
    [
      'GET',
      '/v1/namespaces/acme%2Fweb/tokens/usage',
      'since=3600&ids=3q2-7wZbQ0mB1cXyT4uVnA',
      {
        name: 'tokens.usage',
        role: 'read',
        query: { since: '3600', ids: '3q2-7wZbQ0mB1cXyT4uVnA' },
      },
    ],
    ['POST', '/v1/namespaces/acme%2Fweb/tokens/unthrottle', '', { name: 'tokens.unthrottle', role: 'write' }],
  ])('%s %s?%s', (method, path, query, route) => {
    const parsed = parseRoute(method, path, query);
    expect(parsed).toEqual({ namespace: 'acme/web', query: {}, ...route });
    // API Gateway hands the Lambda the path with its %2F decoded: the same route, never another.
    expect(parseDecodedRoute(method, decodeURIComponent(path), query)).toEqual(parsed);
  });

  it.each([
    ['GET', '/v1/namespaces/a/secrets/K/rollback', '', 405, 'GET is not allowed here', 'POST'],
    ['PUT', '/v1/namespaces/a/keep', '', 405, 'PUT is not allowed here', 'GET, POST'],
    ['DELETE', '/v1/namespaces/a/import', '', 405, 'DELETE is not allowed here', 'POST'],
    ['POST', '/v1/namespaces/a/sealing-key', '', 405, 'POST is not allowed here', 'GET'],
    ['PUT', '/v1/namespaces/a/secrets/K/seal', '', 405, 'PUT is not allowed here', 'POST'],
    ['GET', '/v1/namespaces/a/tokens/killswitch', '', 405, 'GET is not allowed here', 'POST'],
  ])(
    'refuses %s %s with %d, allowing what the route takes',
    (method, path, query, status, message, allow) => {
      expect(() => parseRoute(method, path, query)).toThrow(
        expect.objectContaining({ status, message, allow }),
      );
    },
  );

  it.each([
    ['POST', '/v1/namespaces/a/secrets/K/rollback/3', '', 404, 'no such resource'],
    ['POST', '/v1/namespaces/a/secrets/K/seal/x', '', 404, 'no such resource'],
    ['POST', '/v1/namespaces/a/secrets/rollback', '', 405, 'POST is not allowed here'],
    [
      'GET',
      '/v1/namespaces/a/tokens/usage',
      'since=60&since=120',
      400,
      'the query parameter since is given twice',
    ],
    ['GET', '/v1/namespaces/a/tokens/usage', 'watch=1', 400, 'unknown query parameter "watch"'],
    ['GET', '/v1/namespaces/a/keep', 'count=3', 400, 'unknown query parameter "count"'],
  ])('refuses %s %s?%s with %d', (method, path, query, status, message) => {
    expect(() => parseRoute(method, path, query)).toThrow(expect.objectContaining({ status, message }));
  });

  it('refuses a name that is not a secret name before the secret’s actions', () => {
    expect(() => parseRoute('POST', '/v1/namespaces/a/secrets/1BAD/rollback', '')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_NAME' }),
    );
    expect(() => parseRoute('POST', '/v1/namespaces/a/secrets/A%2FB/seal', '')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_NAME' }),
    );
  });

  it('keeps the creation of a namespace named like a lifecycle tail unambiguous once decoded', () => {
    // No PUT on a one-segment tail: `PUT …/acme/keep` can only create acme/keep.
    for (const tail of ['keep', 'import', 'sealing-key'])
      expect(parseDecodedRoute('PUT', `/v1/namespaces/acme/${tail}`, '')).toEqual({
        name: 'namespaces.create',
        namespace: `acme/${tail}`,
        query: {},
      });
    // And a POST to one is the route, never a namespace (no route POSTs to a namespace itself).
    expect(parseDecodedRoute('POST', '/v1/namespaces/acme/web/keep', '')).toMatchObject({
      name: 'secrets.keep',
      namespace: 'acme/web',
    });
  });
});
