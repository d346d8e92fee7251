/**
 * The lifecycle routes' bodies and queries (issue 16, items 1 and 4), on the API in process:
 * each field checked, each refusal a 400 naming it, and nothing written by a refused call.
 * A non-member's call on a lifecycle route runs no handler at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteName } from '../../src/api/routes.js';
import { type ApiHarness, startApiHarness } from '../support/api-harness.js';

const NS = '/v1/namespaces/acme%2Flife';
const b64 = (text: string) => Buffer.from(text).toString('base64');
let api: ApiHarness;
let alice: string;

beforeAll(async () => {
  api = await startApiHarness();
  alice = await api.person('alice');
  expect((await api.call(alice, 'PUT', NS)).status).toBe(201);
  expect((await api.call(alice, 'PUT', `${NS}/secrets/DB_URL`, { value: b64('one') })).status).toBe(200);
});
afterAll(async () => api?.close());

describe('the lifecycle routes’ bodies', () => {
  it.each([
    ['POST', 'secrets/DB_URL/rollback', {}, 'ERR_USAGE', 'the request body needs "rev"'],
    ['POST', 'secrets/DB_URL/rollback', { rev: 0 }, 'ERR_USAGE', '"rev" must be a revision number'],
    ['POST', 'secrets/DB_URL/rollback', { rev: '1' }, 'ERR_USAGE', '"rev" must be a revision number'],
    ['POST', 'import', {}, 'ERR_USAGE', 'the request body needs "secrets"'],
    [
      'POST',
      'import',
      { secrets: [{ name: 'A', value: 'not base64!' }] },
      'ERR_USAGE',
      '"secrets" must be a list of {"name", "value"}, each value in base64',
    ],
    [
      'POST',
      'import',
      { secrets: [{ name: 'A', value: b64('x'), upstream: 'https://evil.example' }] },
      'ERR_USAGE',
      '"secrets" must be a list of {"name", "value"}, each value in base64',
    ],
    [
      'POST',
      'import',
      { secrets: [{ name: 'A', value: b64('x') }], dryRun: 'yes' },
      'ERR_USAGE',
      '"dryRun" must be true or false',
    ],
    [
      'POST',
      'import',
      {
        secrets: [
          { name: 'A', value: b64('x') },
          { name: 'A', value: b64('y') },
        ],
      },
      'ERR_USAGE',
      'A is given twice; an import sets each secret once',
    ],
    ['POST', 'keep', { count: -1 }, 'ERR_USAGE', '"count" must be a whole number'],
    [
      'POST',
      'keep',
      { count: 51 },
      'ERR_USAGE',
      'a namespace keeps 0 to 50 earlier versions of each secret, not 51',
    ],
    ['POST', 'secrets/K/seal', { sealed: {} }, 'ERR_USAGE', 'the request body needs "upstream"'],
    [
      'POST',
      'secrets/K/seal',
      { upstream: 'https://api.openai.com' },
      'ERR_USAGE',
      'the request body needs "sealed"',
    ],
    ['POST', 'tokens/unthrottle', { ids: [] }, 'ERR_USAGE', 'say which tokens to unthrottle: "ids"'],
    ['POST', 'tokens/unthrottle', { ids: 'x' }, 'ERR_USAGE', '"ids" must be a list of token ids'],
    ['POST', 'tokens/unthrottle', { ids: ['x'] }, 'ERR_USAGE', '"x" is not a token id'],
    ['GET', 'tokens/usage', undefined, 'ERR_USAGE', '"since" must be a number of seconds from 1 to 86400'],
    [
      'GET',
      'tokens/usage?since=0',
      undefined,
      'ERR_USAGE',
      '"since" must be a number of seconds from 1 to 86400',
    ],
    [
      'GET',
      'tokens/usage?since=86401',
      undefined,
      'ERR_USAGE',
      '"since" must be a number of seconds from 1 to 86400',
    ],
    ['GET', 'tokens/usage?since=60&ids=a,b', undefined, 'ERR_USAGE', '"a" is not a token id'],
  ])('refuses %s %s %j with 400', async (method, tail, body, code, message) => {
    const answer = await api.call(alice, method, `${NS}/${tail}`, body);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code, message });
  });

  it('stores nothing from a refused import or sealed key', async () => {
    const sealed = await api.call(alice, 'POST', `${NS}/secrets/K/seal`, {
      sealed: { v: 1 },
      upstream: 'https://api.openai.com',
    });
    expect(sealed.status).toBe(400);
    expect(sealed.body.error.code).toBe('ERR_INVALID_VALUE');
    const listed = await api.call(alice, 'GET', `${NS}/secrets`);
    expect(listed.body.secrets.map((s: { name: string }) => s.name)).toEqual(['DB_URL']);
  });

  it('answers a dry run with the plan and writes nothing', async () => {
    const plan = await api.call(alice, 'POST', `${NS}/import`, {
      secrets: [
        { name: 'DB_URL', value: b64('one') },
        { name: 'NEW_ONE', value: b64('two') },
      ],
      dryRun: true,
    });
    expect(plan).toMatchObject({
      status: 200,
      body: { added: ['NEW_ONE'], changed: [], unchanged: ['DB_URL'] },
    });
    const listed = await api.call(alice, 'GET', `${NS}/secrets`);
    expect(listed.body.secrets.map((s: { name: string }) => s.name)).toEqual(['DB_URL']);
  });

  it('runs no handler for a non-member on any lifecycle route', async () => {
    const bob = await api.person('bob');
    const routes: [string, string, RouteName][] = [
      ['POST', 'secrets/DB_URL/rollback', 'secrets.rollback'],
      ['POST', 'import', 'secrets.import'],
      ['GET', 'keep', 'secrets.kept'],
      ['POST', 'keep', 'secrets.keep'],
      ['GET', 'sealing-key', 'secrets.sealing-key'],
      ['POST', 'secrets/K/seal', 'secrets.seal'],
      ['POST', 'tokens/killswitch', 'tokens.killswitch'],
      ['GET', 'tokens/usage?since=60', 'tokens.usage'],
      ['POST', 'tokens/unthrottle', 'tokens.unthrottle'],
    ];
    for (const [method, tail, name] of routes) {
      const before = api.calls.get(name) ?? 0;
      const answer = await api.call(bob, method, `${NS}/${tail}`, method === 'POST' ? {} : undefined);
      expect(answer.status, tail).toBe(404);
      expect(api.calls.get(name) ?? 0, tail).toBe(before);
    }
  });
});
