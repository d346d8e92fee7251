/**
 * The API's limit per caller (issue 16, "throttling per sub"; src/api/throttle.ts): one
 * caller flooding the API is refused with 429 and `Retry-After` before any handler runs,
 * while every other caller is still served; the count lives in the store, so two API
 * instances on one DynamoDB table share it; a refused flood writes one audit record a window;
 * a store that cannot count refuses the call (503). The clock is the test's: windows change
 * only when the test moves it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiRequest, SERVICE_TRAIL } from '../../src/api/api.js';
import { issuerSetting } from '../../src/api/jwt.js';
import { openApiService } from '../../src/api/service.js';
import { CallLimiter } from '../../src/api/throttle.js';
import type { CallCountStore } from '../../src/stores/store.js';
import {
  type ApiHarness,
  PEOPLE_AUDIENCE,
  startApiHarness,
  startAwsApiHarness,
} from '../support/api-harness.js';

const NS = 'acme%2Fweb';
const PATH = `/v1/namespaces/${NS}`;
/** 1 call a second, 4 at once: a window of 4 s. */
const LIMIT = { rps: 1, burst: 4 };
const WINDOW_MS = 4000;

/** A clock at the start of a window (plus 1 ms), moved only by `next()`. */
function testClock() {
  let now = (Math.floor(Date.now() / WINDOW_MS) + 1) * WINDOW_MS + 1;
  return {
    clock: () => new Date(now),
    /** To the same point of the next window. */
    next: () => {
      now += WINDOW_MS;
    },
    at: () => now,
  };
}

/** Calls of every handler so far. */
const handled = (api: ApiHarness) => [...api.calls.values()].reduce((a, b) => a + b, 0);

describe('one caller flooding the API (SQLite store, egg api serve)', () => {
  let api: ApiHarness;
  const time = testClock();
  let alice: string;
  let mallory: string;
  /** When the window of the first test began: its refusals are counted in the next test's first record. */
  let firstFlood = '';

  beforeAll(async () => {
    api = await startApiHarness({ callLimit: LIMIT, clock: time.clock });
    alice = await api.person('alice');
    mallory = await api.person('mallory');
    expect((await api.call(alice, 'PUT', PATH)).status).toBe(201);
    time.next();
    api.calls.clear();
  });
  afterAll(async () => api?.close());

  it('refuses the flooding sub with 429 and Retry-After, runs no handler for it, and still serves another sub', async () => {
    firstFlood = new Date(time.at() - 1).toISOString();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await api.call(mallory, 'GET', `${PATH}/secrets`)).status);
    // Mallory is no member: her first four calls get the 404 of a namespace she may not see.
    expect(statuses).toEqual([...Array(4).fill(404), ...Array(8).fill(429)]);
    expect(handled(api)).toBe(0);
    const refused = await api.call(mallory, 'GET', `${PATH}/secrets`);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('ERR_RATE_LIMITED');
    // The window is 4 s long and the clock 1 ms into it.
    expect(refused.headers.get('retry-after')).toBe('4');

    const served = await api.call(alice, 'GET', `${PATH}/secrets`);
    expect(served.status).toBe(200);
    expect(handled(api)).toBe(1);

    // A member flooding is refused before its own namespace's handler runs too.
    for (let i = 0; i < 3; i++) expect((await api.call(alice, 'GET', `${PATH}/secrets`)).status).toBe(200);
    expect((await api.call(alice, 'GET', `${PATH}/secrets`)).status).toBe(429);
    expect(api.calls.get('secrets.list')).toBe(4);

    // The next window serves both again.
    time.next();
    expect((await api.call(alice, 'GET', `${PATH}/secrets`)).status).toBe(200);
    expect((await api.call(mallory, 'GET', `${PATH}/secrets`)).status).toBe(404);
  });

  it('a refused flood writes one audit record a window, the next one counting the unrecorded rest', async () => {
    time.next();
    const throttled = async () =>
      (await api.audit(SERVICE_TRAIL)).filter(
        (r) => r.action === 'api.throttled' && r.actor.endsWith('|mallory'),
      );
    const before = (await api.audit(SERVICE_TRAIL)).length;
    const firstWindow = new Date(time.at() - 1).toISOString();
    for (let i = 0; i < 4 + 30; i++) await api.call(mallory, 'GET', `${PATH}/secrets`);
    time.next();
    for (let i = 0; i < 4 + 5; i++) await api.call(mallory, 'GET', `${PATH}/secrets`);

    const after = await api.audit(SERVICE_TRAIL);
    // Two windows of refusals, two records in the service's trail: nothing else was written there.
    expect(after.length - before).toBe(2);
    const records = await throttled();
    const [first, second] = records.slice(-2);
    // Mallory's 13 calls of the first test's window: 4 served, 1 recorded refusal, 8 more.
    expect(first).toMatchObject({
      outcome: 'refused:429',
      targets: [`GET ${PATH}/secrets`, `and 8 more refused, unrecorded, in the window from ${firstFlood}`],
    });
    expect(second?.outcome).toBe('refused:429');
    expect(second?.targets).toEqual([
      `GET ${PATH}/secrets`,
      `and 29 more refused, unrecorded, in the window from ${firstWindow}`,
    ]);
    // The members' calls within the limit were recorded in the namespace's trail, as always.
    const trail = await api.audit('acme/web');
    expect(trail.filter((r) => r.actor.endsWith('|mallory')).every((r) => r.outcome !== 'refused:429')).toBe(
      true,
    );
  });

  it('fails closed (503) when the store cannot count, and runs no handler', async () => {
    // A second API over the same backend whose store can no longer count.
    const down: CallCountStore = {
      countCall: () => Promise.reject(new Error('SQLITE_IOERR: disk I/O error')),
      callCount: () => Promise.reject(new Error('unreachable')),
      markRefused: () => Promise.reject(new Error('unreachable')),
    };
    const { createApi } = await import('../../src/api/api.js');
    const { JwtVerifier } = await import('../../src/api/jwt.js');
    const { handlers } = await import('../../src/api/handlers.js');
    let ran = 0;
    const counted = Object.fromEntries(
      Object.entries(handlers).map(([name, handler]) => [
        name,
        (async (context, call) => {
          ran++;
          return handler(context, call);
        }) as typeof handler,
      ]),
    ) as typeof handlers;
    const backend = api.service.backend;
    const broken = createApi({
      verifier: new JwtVerifier({ issuers: [issuerSetting(api.people.issuer, [PEOPLE_AUDIENCE])] }),
      context: {
        backend,
        members: backend.store as never,
        rotation: api.config.rotation,
        issuers: [api.people.issuer],
      },
      handlers: counted,
      limiter: new CallLimiter(down, LIMIT, time.clock),
    });
    const answer = await broken(request(await api.person('alice'), 'GET', `${PATH}/secrets`));
    expect(answer.status).toBe(503);
    expect((answer.body as { error: { code: string } }).error.code).toBe('ERR_STORE_UNAVAILABLE');
    expect(ran).toBe(0);
  });
});

describe('two API instances sharing one DynamoDB table', () => {
  let api: ApiHarness;
  let second: Awaited<ReturnType<typeof openApiService>>;
  const time = testClock();

  beforeAll(async () => {
    api = await startAwsApiHarness({ callLimit: LIMIT, clock: time.clock });
    second = await openApiService(api.config, {
      issuers: [issuerSetting(api.people.issuer, [PEOPLE_AUDIENCE])],
      callLimit: LIMIT,
      clock: time.clock,
    });
    const alice = await api.person('alice');
    expect((await api.call(alice, 'PUT', PATH)).status).toBe(201);
    time.next();
  }, 120_000);
  afterAll(async () => {
    await second?.close();
    await api?.close();
  });

  it('holds the limit across both: a sub alternating between them gets the burst once, not twice', async () => {
    const alice = await api.person('alice');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await api.call(alice, 'GET', `${PATH}/secrets`)).status);
      statuses.push((await second.api(request(alice, 'GET', `${PATH}/secrets`))).status);
    }
    expect(statuses).toEqual([...Array(4).fill(200), ...Array(6).fill(429)]);
    // Another sub, on either instance, is still served.
    const bob = await api.person('bob');
    expect((await second.api(request(bob, 'GET', `${PATH}/secrets`))).status).toBe(404);
    // One refusal recorded for the window, whichever instance refused first.
    const throttled = (await api.audit(SERVICE_TRAIL)).filter((r) => r.action === 'api.throttled');
    expect(throttled).toHaveLength(1);
    expect(throttled[0]?.actor).toBe(`${api.people.issuer}|alice`);
  }, 60_000);
});

function request(token: string, method: string, path: string): ApiRequest {
  return { method, path, query: '', headers: { authorization: `Bearer ${token}` }, body: Buffer.alloc(0) };
}
