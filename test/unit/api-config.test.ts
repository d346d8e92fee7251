/**
 * The API's pure parts: the issuers of EGG_API_ISSUERS (each refusal naming what to fix),
 * the one parse of a path into a route, and a GitHub job's principals in both `sub` forms.
 */
import { describe, expect, it } from 'vitest';
import { readIssuers } from '../../src/api/jwt.js';
import { callerOf, GITHUB_ISSUER, roleAllows } from '../../src/api/principal.js';
import { parseRoute } from '../../src/api/routes.js';

describe('readIssuers', () => {
  it('reads issuers, with "github" as GitHub Actions’ and its published JWKS', () => {
    expect(
      readIssuers(
        JSON.stringify([
          { issuer: 'github', audience: 'https://egg.example.com' },
          {
            issuer: 'https://idp.example.com/pool',
            audience: ['a', 'b'],
            jwksUri: 'https://idp.example.com/keys',
          },
        ]),
      ),
    ).toEqual([
      {
        issuer: GITHUB_ISSUER,
        audience: ['https://egg.example.com'],
        jwksUri: `${GITHUB_ISSUER}/.well-known/jwks`,
      },
      {
        issuer: 'https://idp.example.com/pool',
        audience: ['a', 'b'],
        jwksUri: 'https://idp.example.com/keys',
      },
    ]);
  });

  it.each([
    ['not json', 'EGG_API_ISSUERS is not a non-empty JSON array of issuers'],
    ['[]', 'EGG_API_ISSUERS is not a non-empty JSON array of issuers'],
    ['[{"audience":"a"}]', 'EGG_API_ISSUERS entry 1 has no "issuer"'],
    [
      '[{"issuer":"https://i.example"}]',
      'EGG_API_ISSUERS entry 1 needs an "audience" (a string or a list of them)',
    ],
    [
      '[{"issuer":"https://i.example","audience":[]}]',
      'EGG_API_ISSUERS entry 1 needs an "audience" (a string or a list of them)',
    ],
    [
      '[{"issuer":"http://i.example","audience":"a"}]',
      'the issuer "http://i.example" must be an https URL: http://i.example',
    ],
    ['[{"issuer":"https://i.example/a|b","audience":"a"}]', 'the issuer https://i.example/a|b contains "|"'],
    [
      '[{"issuer":"https://i.example","audience":"a","jwksUri":"http://keys.example"}]',
      'the JWKS URI of https://i.example must be an https URL: http://keys.example',
    ],
    [
      '[{"issuer":"github","audience":"a"},{"issuer":"github","audience":"b"}]',
      `EGG_API_ISSUERS names ${GITHUB_ISSUER} twice`,
    ],
  ])('refuses %s', (text, message) => {
    expect(() => readIssuers(text)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_CONFIG', message }));
  });

  it('allows http on loopback only (tests, a sidecar issuer)', () => {
    expect(readIssuers('[{"issuer":"http://127.0.0.1:9000","audience":"a"}]')[0]?.issuer).toBe(
      'http://127.0.0.1:9000',
    );
  });
});

describe('parseRoute', () => {
  it.each([
    ['GET', '/v1/namespaces', '', { name: 'namespaces.list', query: {} }],
    [
      'PUT',
      '/v1/namespaces/acme%2Fweb%2Fprod',
      '',
      { name: 'namespaces.create', namespace: 'acme/web/prod', query: {} },
    ],
    [
      'GET',
      '/v1/namespaces/acme%2fweb/secrets/API_KEY',
      '',
      { name: 'secrets.get', namespace: 'acme/web', secret: 'API_KEY', role: 'read', query: {} },
    ],
    [
      'DELETE',
      '/v1/namespaces/a/secrets/K',
      '',
      { name: 'secrets.rm', namespace: 'a', secret: 'K', role: 'write', query: {} },
    ],
    [
      'GET',
      '/v1/namespaces/a/audit',
      'after=3',
      { name: 'audit.list', namespace: 'a', role: 'read', query: { after: '3' } },
    ],
    [
      'GET',
      '/v1/namespaces/a/secrets/K',
      'rev=2',
      { name: 'secrets.get', namespace: 'a', secret: 'K', role: 'read', query: { rev: '2' } },
    ],
    [
      'GET',
      '/v1/namespaces/a/secrets/history/history',
      '',
      { name: 'secrets.history', namespace: 'a', secret: 'history', role: 'read', query: {} },
    ],
    [
      'POST',
      '/v1/namespaces/a/tokens/rotate',
      '',
      { name: 'tokens.rotate', namespace: 'a', role: 'write', query: {} },
    ],
    [
      'POST',
      '/v1/namespaces/a/members/remove',
      '',
      { name: 'members.rm', namespace: 'a', role: 'admin', query: {} },
    ],
  ])('%s %s?%s', (method, path, query, route) => {
    expect(parseRoute(method, path, query)).toEqual(route);
  });

  it.each([
    ['GET', '/v1/namespaces/a/secrets/K/', '', 404, 'no such resource'],
    ['GET', '/v1/namespaces/a/nothing', '', 404, 'no such resource'],
    ['GET', '/v1/namespaces/a/secrets/K/versions', '', 404, 'no such resource'],
    ['GET', '/v1/namespaces/a/secrets/K/history/x', '', 404, 'no such resource'],
    ['PUT', '/v1/namespaces/a/secrets/K/history', '', 405, 'PUT is not allowed here'],
    ['GET', '/v1/namespaces/a/secrets/K/history', 'rev=1', 400, 'unknown query parameter "rev"'],
    ['GET', '/v2/namespaces', '', 404, 'no such resource'],
    ['PATCH', '/v1/namespaces/a/secrets/K', '', 405, 'PATCH is not allowed here'],
    ['POST', '/v1/namespaces', '', 405, 'POST is not allowed here'],
    [
      'GET',
      '/v1/namespaces/a%252Fb/secrets',
      '',
      400,
      'the namespace in the path may escape only "/" (as %2F)',
    ],
    ['GET', '/v1/namespaces/a/secrets', 'x=1', 400, 'unknown query parameter "x"'],
    ['GET', '/v1/namespaces/a/audit', 'after=1&after=2', 400, 'the query parameter after is given twice'],
  ])('refuses %s %s?%s with %d', (method, path, query, status, message) => {
    expect(() => parseRoute(method, path, query)).toThrow(expect.objectContaining({ status, message }));
  });

  it.each([
    ['/v1/namespaces/Acme/secrets', 'ERR_INVALID_NAMESPACE'],
    ['/v1/namespaces/a%2F..%2Fb/secrets', 'ERR_INVALID_NAMESPACE'],
    ['/v1/namespaces/a%2Fb%2Fc%2Fd/secrets', 'ERR_INVALID_NAMESPACE'],
    ['/v1/namespaces/a/secrets/1BAD', 'ERR_INVALID_NAME'],
  ])('refuses %s as %s', (path, code) => {
    expect(() => parseRoute('GET', path, '')).toThrow(expect.objectContaining({ code }));
  });
});

describe('callerOf', () => {
  const job = {
    iss: GITHUB_ISSUER,
    repository: 'acme/web',
    repository_owner_id: '1001',
    repository_id: '2002',
  };
  it('knows a GitHub job by its sub in both forms', () => {
    expect(callerOf({ ...job, sub: 'repo:acme/web:environment:prod' }).aliases).toEqual([
      `${GITHUB_ISSUER}|repo:acme/web:environment:prod`,
      `${GITHUB_ISSUER}|repo:acme@1001/web@2002:environment:prod`,
    ]);
    expect(callerOf({ ...job, sub: 'repo:acme@1001/web@2002:environment:prod' }).aliases).toEqual([
      `${GITHUB_ISSUER}|repo:acme@1001/web@2002:environment:prod`,
      `${GITHUB_ISSUER}|repo:acme/web:environment:prod`,
    ]);
  });

  it('gives another issuer’s repo-shaped sub no second name', () => {
    expect(
      callerOf({ ...job, iss: 'https://idp.example.com', sub: 'repo:acme/web:environment:prod' }).aliases,
    ).toEqual(['https://idp.example.com|repo:acme/web:environment:prod']);
  });

  it('orders the roles', () => {
    expect(roleAllows('owner', 'admin') && roleAllows('admin', 'write') && roleAllows('write', 'read')).toBe(
      true,
    );
    expect(roleAllows('read', 'write') || roleAllows('write', 'admin')).toBe(false);
  });
});
