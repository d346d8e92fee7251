/**
 * A real client: the official `openai` npm package, its base URL pointed at the proxy and
 * its API key set to an egg token, against a loopback fake of OpenAI's API. The fake must
 * see the real provider key (a canary) and never the token. The SDK runs in Node and sends
 * no `Origin`: such a request is not from a web page and is allowed, bounded by the caps
 * (docs/tokens.md, request flow step 5); an `Origin` it does send must be one of the
 * token's origins.
 */
import OpenAI, { PermissionDeniedError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js';
import {
  APP_ORIGIN,
  createWorld,
  KEY_NAME,
  type ProxyWorld,
  startTestProxy,
  type TestProxy,
} from '../support/proxy-harness.js';

const CANARY_KEY = 'sk-openai-canary-3e8a51c0-DO-NOT-LEAK';

describe('the official openai client through egg proxy', () => {
  let upstream: FakeUpstream;
  let world: ProxyWorld;
  let proxy: TestProxy;
  let token: string;
  /** Headers of every request the SDK put on the wire, as it sent them. */
  const sent: Headers[] = [];

  const client = (options: { defaultHeaders?: Record<string, string> } = {}) =>
    new OpenAI({
      baseURL: `${proxy.url}/v1`,
      apiKey: token,
      maxRetries: 0,
      timeout: 10_000,
      ...options,
      fetch: async (input: string | URL | Request, init?: RequestInit) => {
        sent.push(new Headers(init?.headers));
        return fetch(input, init);
      },
    });

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    world = await createWorld('sqlite');
    await world.vault.set(KEY_NAME, Buffer.from(CANARY_KEY), { upstream: upstream.url });
    proxy = await startTestProxy(world);
    token = await world.mint({ origins: [APP_ORIGIN] });
  });
  afterAll(async () => {
    await proxy?.close();
    await world?.close();
    await upstream?.close();
  });

  /** The upstream saw the canary key and no trace of the token. */
  function expectKeySwapped(seen: FakeUpstream['requests'][number]) {
    expect(seen.path).toBe('/v1/chat/completions');
    expect(seen.headers.authorization).toBe(`Bearer ${CANARY_KEY}`);
    expect(JSON.stringify(seen.headers)).not.toContain(token);
    expect(seen.body.toString()).not.toContain(token);
  }

  it('streams a chat completion chunk by chunk, with the real key injected upstream', async () => {
    const before = upstream.requests.length;
    const sentBefore = sent.length;
    // The upstream may write each chunk only once the client has seen the one before. A proxy
    // that held the stream back would leave the gate waiting for its fallback (10 s), and the
    // order of events would show it: this asserts order, not time.
    const events: string[] = [];
    const seen = [0, 1, 2].map(() => Promise.withResolvers<void>());
    upstream.chatGate = async (chunk) => {
      let fallback: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        seen[chunk - 1]!.promise.then(() => 'released'),
        new Promise<string>((resolve) => (fallback = setTimeout(() => resolve('forced'), 10_000))),
      ]);
      clearTimeout(fallback);
      events.push(`upstream ${outcome} chunk ${chunk}`);
    };
    const deltas: string[] = [];
    let finish: string | null = null;
    try {
      const stream = await client().chat.completions.create({
        model: 'gpt-fake',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
      });
      for await (const chunk of stream) {
        const choice = chunk.choices[0]!;
        if (choice.delta.content) {
          events.push(`client saw chunk ${deltas.length}`);
          seen[deltas.length]!.resolve();
          deltas.push(choice.delta.content);
        }
        finish = choice.finish_reason ?? finish;
      }
    } finally {
      upstream.chatGate = undefined;
    }
    expect(deltas).toEqual(['hello', ' from', ' upstream']);
    expect(deltas.join('')).toBe('hello from upstream');
    expect(finish).toBe('stop');
    expect(events).toEqual([
      'client saw chunk 0',
      'upstream released chunk 1',
      'client saw chunk 1',
      'upstream released chunk 2',
      'client saw chunk 2',
      'upstream released chunk 3',
    ]);

    expect(upstream.requests.length).toBe(before + 1);
    expectKeySwapped(upstream.requests[before]!);
    // What the SDK itself sent: the token as its API key, and no Origin.
    const headers = sent[sentBefore]!;
    expect(headers.get('authorization')).toBe(`Bearer ${token}`);
    expect(headers.has('origin')).toBe(false);
    expect(upstream.requests[before]!.headers.origin).toBeUndefined();
  });

  it('gets a non-streamed chat completion', async () => {
    const before = upstream.requests.length;
    const completion = await client().chat.completions.create({
      model: 'gpt-fake',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(completion.choices[0]!.message.content).toBe('hello from upstream');
    expect(completion.usage?.total_tokens).toBe(4);
    expect(upstream.requests.length).toBe(before + 1);
    expectKeySwapped(upstream.requests[before]!);
  });

  it('is refused (403) when it sends an Origin the token does not allow; the upstream is not called', async () => {
    const before = upstream.requests.length;
    const call = client({ defaultHeaders: { Origin: 'https://evil.example' } }).chat.completions.create({
      model: 'gpt-fake',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    await expect(call).rejects.toBeInstanceOf(PermissionDeniedError);
    expect(upstream.requests.length).toBe(before);
  });

  it('is refused (401) with a token that is not an egg token; the upstream is not called', async () => {
    const before = upstream.requests.length;
    const bad = new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: CANARY_KEY, maxRetries: 0 });
    await expect(
      bad.chat.completions.create({ model: 'gpt-fake', messages: [{ role: 'user', content: 'hi' }] }),
    ).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    expect(upstream.requests.length).toBe(before);
  });
});
