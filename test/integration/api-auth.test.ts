/**
 * The API's JWT check (issue 16): every hostile token is refused with 401 before any handler
 * runs (each handler counts its calls), and the refusal is recorded in the service's trail.
 * The issuers are loopback fakes speaking real discovery and JWKS, the keys made with jose.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SERVICE_TRAIL } from '../../src/api/api.js';
import { type ApiHarness, PEOPLE_AUDIENCE, startApiHarness } from '../support/api-harness.js';
import { startFakeJwks } from '../support/fake-jwks.js';

let api: ApiHarness;
const NS = 'acme%2Fweb';

beforeAll(async () => {
  api = await startApiHarness();
  const alice = await api.person('alice');
  expect((await api.call(alice, 'PUT', `/v1/namespaces/${NS}`)).status).toBe(201);
  expect(
    (await api.call(alice, 'PUT', `/v1/namespaces/${NS}/secrets/API_KEY`, { value: 'c2VjcmV0' })).status,
  ).toBe(200);
  api.calls.clear();
});
afterAll(async () => api?.close());

const now = () => Math.floor(Date.now() / 1000);

const hostile: [string, () => Promise<string | undefined>, string][] = [
  ['refuses a request with no token', async () => undefined, 'refused:no-token'],
  [
    'refuses a token with alg none',
    async () => api.people.unsigned({ sub: 'alice', aud: PEOPLE_AUDIENCE }),
    'refused:algorithm',
  ],
  [
    'refuses a token signed with HS256 keyed with the issuer’s public key',
    async () => api.people.hmacWithPublicKey({ sub: 'alice', aud: PEOPLE_AUDIENCE }),
    'refused:algorithm',
  ],
  [
    'refuses a token from an issuer it does not trust',
    async () => {
      const stranger = await startFakeJwks();
      try {
        return await stranger.sign({ sub: 'alice', aud: PEOPLE_AUDIENCE });
      } finally {
        await stranger.close();
      }
    },
    'refused:issuer',
  ],
  [
    'refuses a token claiming a trusted issuer but signed by another key with a kid the JWKS lacks',
    async () =>
      api.people.sign({ sub: 'alice', aud: PEOPLE_AUDIENCE }, { key: 'foreign', kid: 'not-published' }),
    'refused:key',
  ],
  [
    'refuses a token signed by another key under a published kid',
    async () => api.people.sign({ sub: 'alice', aud: PEOPLE_AUDIENCE }, { key: 'foreign' }),
    'refused:signature',
  ],
  [
    'refuses a token for another audience',
    async () => api.person('alice', { aud: 'someone-else' }),
    'refused:audience',
  ],
  [
    'refuses a GitHub token whose audience is the people issuer’s',
    async () => api.job({ aud: PEOPLE_AUDIENCE }),
    'refused:audience',
  ],
  [
    'refuses an expired token',
    async () => api.person('alice', { iat: now() - 600, exp: now() - 120 }),
    'refused:expired',
  ],
  [
    'refuses a token whose nbf is in the future',
    async () => api.person('alice', { nbf: now() + 120 }),
    'refused:not-yet-valid',
  ],
  ['refuses a token without a sub', async () => api.person('alice', { sub: undefined }), 'refused:claims'],
  ['refuses a token without exp', async () => api.person('alice', { exp: undefined }), 'refused:claims'],
  ['refuses garbage in place of a token', async () => 'not.a.jwt!', 'refused:malformed'],
];

describe('hostile JWTs', () => {
  beforeEach(() => api.calls.clear());

  it.each(hostile)('%s, before any handler runs, and records the refusal', async (_name, token, outcome) => {
    const before = (await api.audit(SERVICE_TRAIL)).length;
    const answer = await api.call(await token(), 'GET', `/v1/namespaces/${NS}/secrets/API_KEY`);
    expect(answer.status).toBe(401);
    expect(answer.body.error.code).toBe('ERR_UNAUTHENTICATED');
    expect(answer.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(JSON.stringify(answer.body)).not.toContain('c2VjcmV0');
    expect([...api.calls.values()].reduce((a, b) => a + b, 0)).toBe(0);
    const trail = await api.audit(SERVICE_TRAIL);
    expect(trail.slice(before)).toMatchObject([
      {
        action: 'api.call',
        actor: 'anonymous',
        outcome,
        targets: [`GET /v1/namespaces/${NS}/secrets/API_KEY`],
      },
    ]);
  });

  it('refuses a valid GitHub token for a namespace it is not a member of, with the 404 of a missing one, before any handler runs', async () => {
    const job = await api.job({});
    const forbidden = await api.call(job, 'GET', `/v1/namespaces/${NS}/secrets/API_KEY`);
    const missing = await api.call(job, 'GET', '/v1/namespaces/acme%2Fnothing/secrets/API_KEY');
    expect(forbidden.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(forbidden.body.error.message.replace('acme/web', 'X')).toBe(
      missing.body.error.message.replace('acme/nothing', 'X'),
    );
    expect(api.calls.size).toBe(0);
    expect((await api.audit('acme/web')).at(-1)).toMatchObject({
      action: 'secrets.get',
      targets: ['API_KEY'],
      actor: 'https://token.actions.githubusercontent.com|repo:acme/web:ref:refs/heads/main',
      outcome: 'namespace-not-found',
    });
  });

  it('answers a CORS preflight with no CORS header: no web page may call the API', async () => {
    const answer = await fetch(`${api.url}/v1/namespaces/${NS}/secrets/API_KEY`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    expect(answer.status).toBe(401);
    expect([...answer.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([]);
    expect(api.calls.size).toBe(0);
  });

  it('accepts a good token from either issuer, ES256 or RS256, and finds the people issuer’s keys by discovery', async () => {
    const alice = await api.people.sign({ sub: 'alice', aud: PEOPLE_AUDIENCE }, { alg: 'ES256' });
    const answer = await api.call(alice, 'GET', `/v1/namespaces/${NS}/secrets/API_KEY`);
    expect(answer.status).toBe(200);
    expect(Buffer.from(answer.body.value, 'base64').toString()).toBe('secret');
    expect(api.people.jwksFetches()).toBeGreaterThan(0);
    expect((await api.call(await api.job({}), 'GET', '/v1/namespaces')).body).toEqual({ namespaces: [] });
  });
});
