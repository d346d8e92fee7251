/**
 * `egg api serve` as users run it (the built CLI, a child process): issuers from --issuer
 * (discovery) and EGG_API_ISSUERS (a given JWKS URI), a person who creates a namespace, stores
 * and reads a secret with a new data key per read, a GitHub job admitted as a member, hostile
 * tokens refused, and a clean stop on SIGTERM. A canary value never reaches its output.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GITHUB_ISSUER } from '../../src/api/principal.js';
import { githubJob } from '../support/api-harness.js';
import { eggAsync } from '../support/cli.js';
import { type FakeJwks, startFakeJwks } from '../support/fake-jwks.js';
import { type ServeProcess, startServe } from '../support/proxy-serve.js';

const CANARY = 'canary-api-serve-51d2';
let home: string;
let people: FakeJwks;
let github: FakeJwks;
let serve: ServeProcess;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'egg-api-serve-'));
  [people, github] = await Promise.all([startFakeJwks(), startFakeJwks({ issuer: GITHUB_ISSUER })]);
  serve = await startServe(
    {
      EGG_HOME: home,
      EGG_API_ISSUERS: JSON.stringify([
        { issuer: 'github', audience: 'https://egg.example.com', jwksUri: github.jwksUri },
      ]),
    },
    ['--issuer', people.issuer, '--audience', 'egg-cli'],
    ['api', 'serve'],
  );
});
afterAll(async () => {
  serve?.child.kill('SIGKILL');
  await Promise.all([people?.close(), github?.close()]);
  rmSync(home, { recursive: true, force: true });
});

async function call(token: string | undefined, method: string, path: string, body?: unknown) {
  const response = await fetch(`${serve.url}${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('egg api serve', () => {
  it('prints its URL and issuers, and serves a namespace to its owner and to a GitHub job it adds', async () => {
    expect(serve.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(serve.stderr()).toContain(`(issuers: ${people.issuer}, ${GITHUB_ISSUER})`);
    const alice = await people.sign({ sub: 'alice', aud: 'egg-cli' });
    const job = await github.sign({ ...githubJob(), aud: 'https://egg.example.com' });
    expect((await call(alice, 'PUT', '/v1/namespaces/acme%2Fweb')).status).toBe(201);
    const value = Buffer.from(CANARY).toString('base64');
    expect((await call(alice, 'PUT', '/v1/namespaces/acme%2Fweb/secrets/API_KEY', { value })).status).toBe(
      200,
    );
    expect((await call(job, 'GET', '/v1/namespaces/acme%2Fweb/secrets/API_KEY')).status).toBe(404);
    const added = await call(alice, 'POST', '/v1/namespaces/acme%2Fweb/members', {
      issuer: 'github',
      subject: 'repo:acme@1001/web@2002:ref:refs/heads/main',
      role: 'read',
    });
    expect(added.status).toBe(200);
    const first = await call(job, 'GET', '/v1/namespaces/acme%2Fweb/secrets/API_KEY');
    const second = await call(alice, 'GET', '/v1/namespaces/acme%2Fweb/secrets/API_KEY');
    expect([first.body.value, second.body.value]).toEqual([value, value]);
    expect([first.body.gen, second.body.gen]).toEqual([1, 2]);
    expect((await call(job, 'PUT', '/v1/namespaces/acme%2Fweb/secrets/API_KEY', { value })).status).toBe(403);
  });

  it('refuses hostile tokens with 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const tokens = [
      people.unsigned({ sub: 'alice', aud: 'egg-cli' }),
      await people.hmacWithPublicKey({ sub: 'alice', aud: 'egg-cli' }),
      await people.sign({ sub: 'alice', aud: 'egg-cli', exp: now - 100, iat: now - 400 }),
      await people.sign({ sub: 'alice', aud: 'egg-cli' }, { key: 'foreign', kid: 'unknown' }),
    ];
    for (const token of tokens)
      expect((await call(token, 'GET', '/v1/namespaces/acme%2Fweb/secrets/API_KEY')).status).toBe(401);
  });

  it('egg members add, list and rm manage a namespace through the API, and a non-member is told it does not exist', async () => {
    const alice = await people.sign({ sub: 'alice', aud: 'egg-cli' });
    const bob = await people.sign({ sub: 'bob', aud: 'egg-cli' });
    const env = (token: string) => ({
      PATH: process.env.PATH,
      EGG_HOME: home,
      EGG_API_URL: serve.url,
      EGG_API_TOKEN: token,
    });
    const job = 'repo:acme/web:environment:prod';
    const added = await eggAsync(
      ['members', 'add', '-n', 'acme/web', job, '--issuer', 'github', '--role', 'write'],
      env(alice),
    );
    expect(added).toMatchObject({ code: 0, stderr: '' });
    expect(added.stdout).toBe(`${job} (${GITHUB_ISSUER}) is a write member of acme/web.\n`);
    const listed = await eggAsync(['members', 'list', '-n', 'acme/web', '--json'], env(alice));
    expect(
      JSON.parse(listed.stdout).members.map((m: { subject: string; role: string }) => [m.subject, m.role]),
    ).toEqual([
      ['alice', 'owner'],
      [job, 'write'],
      ['repo:acme@1001/web@2002:ref:refs/heads/main', 'read'],
    ]);
    const refused = await eggAsync(['members', 'list', '-n', 'acme/web'], env(bob));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'Error: namespace acme/web does not exist, or you are not a member of it (ask its owner to add you (`egg members add`)).\n',
    );
    const removed = await eggAsync(
      ['members', 'rm', '-n', 'acme/web', job, '--issuer', 'github'],
      env(alice),
    );
    expect(removed).toMatchObject({
      code: 0,
      stdout: `${job} (${GITHUB_ISSUER}) is no longer a member of acme/web.\n`,
    });
    const plain = await eggAsync(['members', 'list', '-n', 'acme/web'], {
      ...env(alice),
      EGG_API_URL: 'http://egg.example.com',
    });
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain(
      'the API URL must be https (it is http://egg.example.com) (from EGG_API_URL)',
    );
  });

  it('--sub-rps and --sub-burst limit each caller: a flooding sub gets 429 with Retry-After, another is served', async () => {
    const limited = await startServe(
      { EGG_HOME: home },
      ['--issuer', people.issuer, '--audience', 'egg-cli', '--sub-rps', '1', '--sub-burst', '3'],
      ['api', 'serve'],
    );
    try {
      expect(limited.stderr()).toContain(', 1 calls/s per caller, burst 3');
      const at = (token: string) =>
        fetch(`${limited.url}/v1/namespaces/acme%2Fweb/secrets`, {
          headers: { authorization: `Bearer ${token}` },
        });
      const mallory = await people.sign({ sub: 'mallory', aud: 'egg-cli' });
      // Windows of 3 s hold 3 calls: 7 calls span at most two windows, so one is refused.
      let refused: Response | undefined;
      for (let i = 0; i < 7 && refused === undefined; i++) {
        const answer = await at(mallory);
        if (answer.status === 429) refused = answer;
        else expect(answer.status).toBe(404);
      }
      expect(refused?.headers.get('retry-after')).toMatch(/^[1-3]$/);
      expect(((await refused?.json()) as { error: { code: string } }).error.code).toBe('ERR_RATE_LIMITED');
      const alice = await people.sign({ sub: 'alice', aud: 'egg-cli' });
      expect((await at(alice)).status).toBe(200);
    } finally {
      limited.child.kill('SIGKILL');
    }
  });

  it('stops on SIGTERM, and never printed the canary', async () => {
    serve.child.kill('SIGTERM');
    expect(await serve.exited(6_000)).toEqual({ code: 0, signal: null });
    for (const output of [serve.stdout(), serve.stderr()]) {
      expect(output).not.toContain(CANARY);
      expect(output).not.toContain(Buffer.from(CANARY).toString('base64'));
    }
  });
});
