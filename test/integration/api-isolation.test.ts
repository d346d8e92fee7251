/**
 * Sub-scoped data through the API (issue 16): a caller who is not a member of a namespace
 * cannot reach it by any path, encoding, case or parameter, and cannot tell it from one that
 * does not exist; a member's role is enforced per action; GitHub jobs are admitted by a
 * membership in either `sub` form; and every call, refused ones included, is in the trail.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, type Json, startApiHarness, startAwsApiHarness } from '../support/api-harness.js';

const SECRET = 'the-canary-value-7f3a';
const b64 = (text: string) => Buffer.from(text).toString('base64');

function suite(name: string, start: () => Promise<ApiHarness>) {
  describe(name, () => {
    let api: ApiHarness;
    let alice: string;
    let bob: string;

    beforeAll(async () => {
      api = await start();
      alice = await api.person('alice');
      bob = await api.person('bob');
      expect((await api.call(alice, 'PUT', '/v1/namespaces/acme%2Fweb')).status).toBe(201);
      expect(
        (await api.call(alice, 'PUT', '/v1/namespaces/acme%2Fweb/secrets/API_KEY', { value: b64(SECRET) }))
          .status,
      ).toBe(200);
      expect((await api.call(bob, 'PUT', '/v1/namespaces/bob')).status).toBe(201);
    });
    afterAll(async () => api?.close());

    /** The answer with the namespace's name taken out: what a non-member can compare. */
    const shape = (answer: { status: number; body: Json }, namespace: string) => ({
      status: answer.status,
      body: JSON.stringify(answer.body).replaceAll(namespace, 'NS'),
    });

    describe('isolation', () => {
      it('gives a non-member the same answer for a namespace it may not see as for one that does not exist, on every route', async () => {
        const routes: [string, string, unknown?][] = [
          ['GET', '/secrets'],
          ['GET', '/secrets/API_KEY'],
          ['PUT', '/secrets/API_KEY', { value: b64('overwritten') }],
          ['DELETE', '/secrets/API_KEY'],
          ['POST', '/pull', {}],
          ['GET', '/tokens'],
          ['POST', '/tokens/revoke', { ids: ['AAAAAAAAAAAAAAAAAAAAAA'] }],
          ['GET', '/audit'],
          ['GET', '/audit/verify'],
          ['GET', '/members'],
          ['POST', '/members', { subject: 'bob', role: 'admin' }],
          ['POST', '/members/remove', { subject: 'alice' }],
          ['POST', '/secrets/API_KEY/rollback', { rev: 1 }],
          ['POST', '/import', { secrets: [{ name: 'API_KEY', value: b64('imported') }] }],
          ['GET', '/keep'],
          ['POST', '/keep', { count: 0 }],
          ['GET', '/sealing-key'],
          ['POST', '/secrets/API_KEY/seal', { sealed: {}, upstream: 'https://api.openai.com' }],
          ['POST', '/tokens/killswitch'],
          ['GET', '/tokens/usage?since=60'],
          ['POST', '/tokens/unthrottle', { ids: ['AAAAAAAAAAAAAAAAAAAAAA'] }],
        ];
        for (const [method, tail, body] of routes) {
          const forbidden = await api.call(bob, method, `/v1/namespaces/acme%2Fweb${tail}`, body);
          const missing = await api.call(bob, method, `/v1/namespaces/acme%2Fnone${tail}`, body);
          expect(shape(forbidden, 'acme/web'), `${method} ${tail}`).toEqual(shape(missing, 'acme/none'));
          expect(forbidden.status).toBe(404);
        }
        const read = await api.call(alice, 'GET', '/v1/namespaces/acme%2Fweb/secrets/API_KEY');
        expect(Buffer.from(read.body.value, 'base64').toString()).toBe(SECRET);
        expect(api.calls.get('secrets.set')).toBe(1);
        expect(api.calls.get('secrets.rm')).toBeUndefined();
        for (const name of [
          'secrets.rollback',
          'secrets.import',
          'secrets.kept',
          'secrets.keep',
          'secrets.sealing-key',
          'secrets.seal',
          'tokens.killswitch',
          'tokens.usage',
          'tokens.unthrottle',
        ] as const)
          expect(api.calls.get(name), name).toBeUndefined();
      });

      it('refuses encoded, case-folded, traversing and doubled variants of another’s namespace without reaching it', async () => {
        const variants: [string, number][] = [
          ['/v1/namespaces/acme%2fweb/secrets/API_KEY', 404],
          ['/v1/namespaces/ACME%2FWEB/secrets/API_KEY', 400],
          ['/v1/namespaces/Acme%2Fweb/secrets/API_KEY', 400],
          ['/v1/namespaces/acme%252Fweb/secrets/API_KEY', 400],
          ['/v1/namespaces/%61cme%2Fweb/secrets/API_KEY', 400],
          ['/v1/namespaces/acme/web/secrets/API_KEY', 404],
          ['/v1/namespaces/bob%2F..%2Facme%2Fweb/secrets/API_KEY', 400],
          ['/v1/namespaces/bob/../acme%2Fweb/secrets/API_KEY', 404],
          ['/v1/namespaces/bob/secrets/..%2F..%2Facme%2Fweb%2Fsecrets%2FAPI_KEY', 400],
          ['/v1/namespaces/acme%2Fweb%00/secrets/API_KEY', 400],
          ['/v1/namespaces/acme%2Fweb/secrets/API_KEY/', 404],
          ['/v1/namespaces/acme%2Fweb/secrets//API_KEY', 404],
          ['/v1/namespaces/bob/secrets/API_KEY?namespace=acme/web', 400],
          ['/v1/namespaces/acme%2Fweb/audit?after=0&after=1', 400],
          ['/v1/namespaces/acme%2Fweb/secrets/api_key', 404],
        ];
        for (const [path, status] of variants) {
          // fetch would normalise dot segments; a raw request sends the path as written.
          const answer = await rawGet(api.url, path, bob);
          expect(answer.status, path).toBe(status);
          expect(answer.text, path).not.toContain(SECRET);
          expect(answer.text, path).not.toContain(b64(SECRET));
        }
        expect(api.calls.get('secrets.get')).toBe(1);
      });

      it('keeps the same sub from two issuers apart', async () => {
        const impostor = await api.job({ sub: 'alice' });
        const answer = await api.call(impostor, 'GET', '/v1/namespaces/acme%2Fweb/secrets/API_KEY');
        expect(answer.status).toBe(404);
      });

      it('refuses to create a namespace that exists, whoever holds it', async () => {
        const taken = await api.call(bob, 'PUT', '/v1/namespaces/acme%2Fweb');
        expect(taken.status).toBe(409);
        expect((await api.call(alice, 'GET', '/v1/namespaces/acme%2Fweb/members')).body.members).toEqual([
          expect.objectContaining({ subject: 'alice', role: 'owner' }),
        ]);
      });
    });

    describe('roles', () => {
      it('enforces each role per action, and keeps the owner', async () => {
        await api.call(alice, 'PUT', '/v1/namespaces/acme%2Froles');
        const carol = await api.person('carol');
        const as = (role: string) =>
          api.call(alice, 'POST', '/v1/namespaces/acme%2Froles/members', { subject: 'carol', role });
        const tryAll = async () => ({
          get: (await api.call(carol, 'GET', '/v1/namespaces/acme%2Froles/secrets')).status,
          set: (await api.call(carol, 'PUT', '/v1/namespaces/acme%2Froles/secrets/X', { value: b64('x') }))
            .status,
          members: (
            await api.call(carol, 'POST', '/v1/namespaces/acme%2Froles/members', {
              subject: 'dave',
              role: 'read',
            })
          ).status,
        });
        expect(await tryAll()).toEqual({ get: 404, set: 404, members: 404 });
        expect((await as('read')).status).toBe(200);
        expect(await tryAll()).toEqual({ get: 200, set: 403, members: 403 });
        expect((await as('write')).status).toBe(200);
        expect(await tryAll()).toEqual({ get: 200, set: 200, members: 403 });
        expect((await as('admin')).status).toBe(200);
        expect(await tryAll()).toEqual({ get: 200, set: 200, members: 200 });
        const demote = await api.call(carol, 'POST', '/v1/namespaces/acme%2Froles/members', {
          subject: 'alice',
          role: 'read',
        });
        expect(demote.status).toBe(409);
        const remove = await api.call(carol, 'POST', '/v1/namespaces/acme%2Froles/members/remove', {
          subject: 'alice',
        });
        expect(remove.status).toBe(409);
        expect(
          (await api.call(alice, 'POST', '/v1/namespaces/acme%2Froles/members/remove', { subject: 'carol' }))
            .status,
        ).toBe(200);
        expect(await tryAll()).toEqual({ get: 404, set: 404, members: 404 });
      });

      it('admits a GitHub job through a membership in either sub form, and not a repository recreated under the same name', async () => {
        await api.call(alice, 'PUT', '/v1/namespaces/acme%2Fci');
        await api.call(alice, 'PUT', '/v1/namespaces/acme%2Fci/secrets/DEPLOY', { value: b64('d') });
        const add = (subject: string) =>
          api.call(alice, 'POST', '/v1/namespaces/acme%2Fci/members', {
            issuer: 'github',
            subject,
            role: 'read',
          });
        const read = async (claims: Record<string, unknown>) =>
          (await api.call(await api.job(claims), 'GET', '/v1/namespaces/acme%2Fci/secrets/DEPLOY')).status;
        const immutable = { sub: 'repo:acme@1001/web@2002:ref:refs/heads/main' };
        const recreated = { sub: 'repo:acme@1001/web@9999:ref:refs/heads/main', repository_id: '9999' };
        expect(await read({})).toBe(404);
        expect((await add('repo:acme@1001/web@2002:ref:refs/heads/main')).status).toBe(200);
        expect(await read({})).toBe(200);
        expect(await read(immutable)).toBe(200);
        expect(await read(recreated)).toBe(404);
        expect(await read({ sub: 'repo:acme/web:ref:refs/heads/dev', ref: 'refs/heads/dev' })).toBe(404);
        await api.call(alice, 'POST', '/v1/namespaces/acme%2Fci/members/remove', {
          issuer: 'github',
          subject: 'repo:acme@1001/web@2002:ref:refs/heads/main',
        });
        expect(await read(immutable)).toBe(404);
        expect((await add('repo:acme/web:ref:refs/heads/main')).status).toBe(200);
        expect(await read(immutable)).toBe(200);
        expect((await api.call(await api.job({}), 'GET', '/v1/namespaces')).body).toEqual({
          namespaces: [{ namespace: 'acme/ci', role: 'read' }],
        });
      });
    });

    describe('audit', () => {
      it('records every call, refused and failed ones too, with the caller’s principal, and the trail verifies', async () => {
        const dave = await api.person('dave');
        await api.call(alice, 'PUT', '/v1/namespaces/acme%2Faudit');
        await api.call(alice, 'PUT', '/v1/namespaces/acme%2Faudit/secrets/K', { value: b64('v') });
        await api.call(alice, 'POST', '/v1/namespaces/acme%2Faudit/members', {
          subject: 'dave',
          role: 'read',
        });
        await api.call(dave, 'GET', '/v1/namespaces/acme%2Faudit/secrets/K');
        await api.call(dave, 'PUT', '/v1/namespaces/acme%2Faudit/secrets/K', { value: b64('w') });
        await api.call(bob, 'GET', '/v1/namespaces/acme%2Faudit/secrets/K');
        await api.call(alice, 'GET', '/v1/namespaces/acme%2Faudit/secrets/MISSING');
        await api.call(alice, 'PUT', '/v1/namespaces/acme%2Faudit/secrets/K', { value: 'not base64!' });
        await api.call(alice, 'GET', '/v1/namespaces/acme%2Faudit/members');
        const people = api.people.issuer;
        const trail = (await api.audit('acme/audit')).map((r) => [
          r.action,
          r.targets.join(','),
          r.actor.replace(`${people}|`, ''),
          r.outcome,
        ]);
        expect(trail).toEqual([
          ['namespace.create', '', 'alice', 'ok'],
          ['set', 'K', 'alice', 'ok'],
          ['member.add', `${people}|dave read`, 'alice', 'ok'],
          ['read', 'K', 'dave', 'ok'],
          ['secrets.set', 'K', 'dave', 'access-denied'],
          ['secrets.get', 'K', 'bob', 'namespace-not-found'],
          ['read', 'MISSING', 'alice', 'not-found'],
          ['secrets.set', 'K', 'alice', 'usage'],
          ['member.list', '', 'alice', 'ok'],
        ]);
        const listed = await api.call(alice, 'GET', '/v1/namespaces/acme%2Faudit/audit?after=8');
        expect(listed.body.records.map((r: { action: string }) => r.action)).toEqual(['member.list']);
        const verdict = await api.call(alice, 'GET', '/v1/namespaces/acme%2Faudit/audit/verify');
        expect(verdict.body).toMatchObject({ ok: true, records: 10 });
        const everything = JSON.stringify(await api.audit('acme/audit'));
        expect(everything).not.toContain(b64('v'));
      });
    });
  });
}

suite('on SQLite', () => startApiHarness());
suite('on DynamoDB Local and KMS', () => startAwsApiHarness());

/** A GET whose path goes out exactly as written (fetch and URL normalise dot segments). */
async function rawGet(base: string, path: string, token: string): Promise<{ status: number; text: string }> {
  const { request } = await import('node:http');
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: hostname, port, path, method: 'GET', headers: { authorization: `Bearer ${token}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
