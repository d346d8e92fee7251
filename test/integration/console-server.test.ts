/**
 * The console's server in process (src/console/serve.ts) on a real local vault: what the
 * page may ask, as plain HTTP with the session. The kill switch needs the namespace typed
 * back; a POST must be JSON and small; the form's mistakes come back as one sentence naming
 * the field; the audit trail filters by actor, secret, action and time, and exports the
 * same selection as JSON lines.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalBackend } from '../../src/backends/local.js';
import { osUserIdentity } from '../../src/backends/identity.js';
import type { EggConfig } from '../../src/config.js';
import { type RunningConsole, serveConsole } from '../../src/console/serve.js';
import { Vault } from '../../src/vault/vault.js';

const NAMESPACE = 'acme/web';

describe('egg console server', () => {
  let base: string;
  let running: RunningConsole;
  let cookie: string;
  let csrf: string;

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${running.origin}${path}`, {
      method: 'POST',
      headers: {
        cookie,
        origin: running.origin,
        'x-egg-csrf': csrf,
        'content-type': 'application/json',
        ...headers,
      },
      body,
    });
  const get = async <T>(path: string) =>
    (await fetch(`${running.origin}${path}`, { headers: { cookie } })).json() as Promise<T>;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'egg-console-server-'));
    const home = join(base, 'home');
    const local = openLocalBackend(home, { create: true });
    const vault = new Vault({
      store: local.store,
      keyring: local.keyring,
      namespace: NAMESPACE,
      actor: 'user:alice',
    });
    await vault.set('OPENAI_KEY', Buffer.from('sk-test-1'), { upstream: 'https://api.openai.com' });
    await vault.set('OTHER', Buffer.from('x'));
    await local.close();
    const config: EggConfig = {
      backend: 'local',
      home,
      namespace: NAMESPACE,
      keyring: 'local',
      rotation: 'inline',
    };
    running = await serveConsole(config, osUserIdentity('user:bob'), { port: 0 });
    const exchanged = await fetch(running.url, { redirect: 'manual' });
    expect(exchanged.status).toBe(303);
    cookie = (exchanged.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    csrf = (await get<{ csrf: string }>('/api/about')).csrf;
  });
  afterAll(async () => {
    await running?.close();
    if (base) rmSync(base, { recursive: true, force: true });
  });

  it('refuses the kill switch without the namespace typed back, and pulls it with it', async () => {
    const wrong = await post('/api/killswitch', JSON.stringify({ confirm: 'acme/we' }));
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toEqual({
      error: { code: 'ERR_USAGE', message: 'type the namespace’s name to confirm the kill switch' },
    });
    const actions = async () =>
      (await get<{ records: { action: string }[] }>('/api/audit')).records.map((r) => r.action);
    expect(await actions()).not.toContain('token.killswitch');
    expect((await post('/api/killswitch', JSON.stringify({ confirm: NAMESPACE }))).status).toBe(200);
    expect(await actions()).toContain('token.killswitch');
  });

  it('refuses a POST that is not JSON (a form) or too large, before reading it as a request', async () => {
    const form = await post('/api/tokens/revoke', 'ids=x', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(form.status).toBe(415);
    const large = await post('/api/tokens/revoke', JSON.stringify({ ids: ['x'.repeat(70_000)] }));
    expect(large.status).toBe(413);
    const notJson = await post('/api/tokens/revoke', '{');
    expect(notJson.status).toBe(400);
  });

  it.each([
    [
      { key: 'OPENAI_KEY', ttl: '2d', rps: 1, spend: 1 },
      'Lifetime "2d" is not a lifetime between 1s and 24h',
    ],
    [{ key: 'OPENAI_KEY', ttl: '1h', rps: '1', spend: 1 }, 'rps must be a whole number'],
    [{ key: 'OPENAI_KEY', ttl: '1h', rps: 1 }, 'spend must be given'],
    [
      { key: 'OTHER', ttl: '1h', rps: 1, spend: 1, allowNoOrigin: true },
      'OTHER has no pinned upstream, so no token can be minted for it',
    ],
    [[1], 'the request body must be a JSON object'],
    // The client limits are checked as `egg tokens mint` checks --max-clients and --client-rps.
    [
      { key: 'OPENAI_KEY', ttl: '1h', rps: 1, spend: 1, allowNoOrigin: true, maxClients: 1001 },
      '--max-clients must be a whole number from 1 to 1000',
    ],
    [
      { key: 'OPENAI_KEY', ttl: '1h', rps: 1, spend: 1, allowNoOrigin: true, clientRps: 0 },
      '--client-rps must be a whole number from 1 to 1000000000000',
    ],
    [
      { key: 'OPENAI_KEY', ttl: '1h', rps: 1, spend: 1, allowNoOrigin: true, maxClients: '3' },
      'maxClients must be a whole number',
    ],
  ])('answers a bad mint with one sentence: %j', async (body, message) => {
    const res = await post('/api/tokens', JSON.stringify(body));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(message);
  });

  it('filters the audit trail by actor, secret, action and time, and exports the same as JSON lines', async () => {
    type Records = { records: { actor: string; action: string; targets: string[]; time: string }[] };
    const all = (await get<Records>('/api/audit')).records;
    expect(all.map((r) => [r.actor, r.action])).toEqual([
      ['user:alice', 'set'],
      ['user:alice', 'set'],
      ['user:bob', 'token.killswitch'],
    ]);
    expect((await get<Records>('/api/audit?actor=BOB')).records.map((r) => r.action)).toEqual([
      'token.killswitch',
    ]);
    expect((await get<Records>('/api/audit?secret=OTHER')).records.map((r) => r.targets)).toEqual([
      ['OTHER'],
    ]);
    expect((await get<Records>('/api/audit?secret=OTHE')).records).toEqual([]);
    expect((await get<Records>('/api/audit?action=set')).records).toHaveLength(2);
    const last = all.at(-1)!.time;
    expect((await get<Records>(`/api/audit?since=${encodeURIComponent(last)}`)).records).toHaveLength(1);
    expect(
      (await get<Records>(`/api/audit?until=${encodeURIComponent(all[0]!.time)}`)).records.length,
    ).toBeGreaterThan(0);
    const bad = await fetch(`${running.origin}/api/audit?since=yesterday`, { headers: { cookie } });
    expect(bad.status).toBe(400);
    const exported = await fetch(`${running.origin}/api/audit/export?action=set`, { headers: { cookie } });
    expect(exported.headers.get('content-disposition')).toBe(
      'attachment; filename="egg-audit-acme_web.jsonl"',
    );
    const lines = (await exported.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string });
    expect(lines.map((l) => l.action)).toEqual(['set', 'set']);
  });

  it('lists secrets by name and metadata, never a value', async () => {
    const text = await (await fetch(`${running.origin}/api/secrets`, { headers: { cookie } })).text();
    expect(JSON.parse(text)).toEqual({
      secrets: [
        { name: 'OPENAI_KEY', updatedAt: expect.any(String), upstream: 'https://api.openai.com' },
        { name: 'OTHER', updatedAt: expect.any(String) },
      ],
    });
    expect(text).not.toContain('sk-test-1');
  });

  // Last: the audit test above counts the records before any mint.
  it('mints with the form’s client limits, and lists them on the token', async () => {
    const res = await post(
      '/api/tokens',
      JSON.stringify({
        key: 'OPENAI_KEY',
        ttl: '15m',
        rps: 5,
        spend: 10,
        allowNoOrigin: true,
        maxClients: 3,
        clientRps: 2,
        tags: [],
      }),
    );
    expect(res.status).toBe(200);
    const { id } = (await res.json()) as { id: string };
    const { tokens } = await get<{ tokens: { id: string; maxClients?: number; clientRps?: number }[] }>(
      '/api/tokens',
    );
    expect(tokens.find((t) => t.id === id)).toMatchObject({ maxClients: 3, clientRps: 2 });
  });
});
