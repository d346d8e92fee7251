/**
 * Spend in real units (issue 10 item 6, docs/spend.md): a provider key with a price table,
 * the official `openai` client and a loopback Anthropic-shaped API through the proxy, against
 * loopback upstreams that report usage. The token's record must hold exactly tokens × price
 * after each answer; the worst case is reserved before forwarding, so concurrent requests
 * never overspend; an answer without usage (or cut) keeps the reservation; an upstream that
 * reports more is charged what it reported. Expected figures are worked out here by hand from
 * the price table (input 2.5, output 10 per million tokens: 2.5 and 10 micro-units a token).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/log.js';
import { namedToken } from '../../src/proxy/named-token.js';
import { formatPrice, parsePrice } from '../../src/tokens/price.js';
import { canonicalInject } from '../../src/tokens/upstream.js';
import { claimsAt, signClaims } from '../support/hostile-minter.js';
import {
  createWorld,
  KEY_NAME,
  NAMESPACE,
  type ProxyWorld,
  startTestProxy,
  type TestProxy,
} from '../support/proxy-harness.js';

const ANTHROPIC_KEY = 'ANTHROPIC_KEY';
/** A priced key whose requests cost nothing: the worst case reserved is 0. */
const FREE_KEY = 'FREE_KEY';
const PROMPT = 'PROMPT-TEXT-7f3a: tell me a secret';
const COMPLETION = 'COMPLETION-TEXT-91bc';

/** What the loopback upstream reports and how it answers the next requests. */
interface Behaviour {
  input: number;
  output: number;
  cacheRead?: number;
  /** Write the first event of a stream, then drop the connection. */
  cut?: boolean;
  /** Hold every answer until this resolves. */
  hold?: Promise<void>;
}

/** A loopback API speaking OpenAI's chat completions and Anthropic's messages, with usage. */
async function startMeteredUpstream() {
  const state = { behaviour: { input: 0, output: 0 } as Behaviour, received: 0 };
  const server: Server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    state.received++;
    const b = state.behaviour;
    await b.hold;
    const body = JSON.parse(Buffer.concat(chunks).toString()) as {
      stream?: boolean;
      stream_options?: { include_usage?: boolean };
    };
    if (req.url === '/v1/messages') return anthropic(res, body.stream === true, b);
    return openai(res, body.stream === true, body.stream_options?.include_usage === true, b);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    state,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function openai(res: ServerResponse, stream: boolean, includeUsage: boolean, b: Behaviour) {
  const base = { id: 'chatcmpl-1', created: 1_700_000_000, model: 'gpt-fake' };
  const usage = {
    prompt_tokens: b.input,
    completion_tokens: b.output,
    total_tokens: b.input + b.output,
    ...(b.cacheRead === undefined ? {} : { prompt_tokens_details: { cached_tokens: b.cacheRead } }),
  };
  if (!stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    // Pretty-printed, as OpenAI answers, and with a completion that quotes a usage block: only
    // the top-level `usage` counts.
    const content = `${COMPLETION} "usage": {"prompt_tokens": 999999999, "completion_tokens": 999999999}`;
    res.end(
      JSON.stringify(
        {
          ...base,
          object: 'chat.completion',
          choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
          usage,
          system_fingerprint: 'fp',
        },
        null,
        2,
      ),
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const chunk = (extra: object) =>
    `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', ...extra })}\n\n`;
  const first = chunk({
    choices: [{ index: 0, delta: { content: COMPLETION }, finish_reason: null }],
    ...(includeUsage ? { usage: null } : {}),
  });
  if (b.cut) {
    res.write(first);
    setImmediate(() => res.socket?.destroy());
    return;
  }
  res.write(first);
  res.write(
    chunk({
      choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
      ...(includeUsage ? { usage: null } : {}),
    }),
  );
  if (includeUsage) {
    // The usage chunk split across two writes: the proxy reads lines, not writes.
    const last = chunk({ choices: [], usage });
    res.write(last.slice(0, 40));
    res.write(last.slice(40));
  }
  res.end('data: [DONE]\n\n');
}

function anthropic(res: ServerResponse, stream: boolean, b: Behaviour) {
  const message = {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: 'claude-fake',
    stop_sequence: null,
  };
  if (!stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        ...message,
        content: [{ type: 'text', text: COMPLETION }],
        stop_reason: 'end_turn',
        usage: { input_tokens: b.input, output_tokens: b.output, cache_read_input_tokens: b.cacheRead ?? 0 },
      }),
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const event = (type: string, data: object) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const start = event('message_start', {
    message: {
      ...message,
      content: [],
      stop_reason: null,
      usage: { input_tokens: b.input, output_tokens: 1, cache_read_input_tokens: b.cacheRead ?? 0 },
    },
  });
  res.write(start.slice(0, 70));
  res.write(start.slice(70));
  res.write(event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: COMPLETION } }));
  if (b.cut) {
    setImmediate(() => res.socket?.destroy());
    return;
  }
  // Anthropic's counts in message_delta are cumulative.
  res.write(event('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 1 } }));
  res.write(
    event('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: b.output } }),
  );
  res.end(event('message_stop', {}));
}

/** 2.5 and 10 micro-units a token, rounded up once per request. */
function micro(input: number, output: number, cacheRead = 0): number {
  return Math.ceil((input * 2_500_000 + output * 10_000_000 + cacheRead * 250_000) / 1_000_000);
}

for (const backend of ['sqlite', 'dynamodb'] as const)
  describe(`spend in real units through egg proxy (${backend})`, () => {
    let upstream: Awaited<ReturnType<typeof startMeteredUpstream>>;
    let world: ProxyWorld;
    let proxy: TestProxy;
    const warnings: string[] = [];
    const logger: Logger = {
      debug: () => {},
      info: (event, fields) => warnings.push(`${event} ${JSON.stringify(fields)}`),
      warn: (event, fields) => warnings.push(`${event} ${JSON.stringify(fields)}`),
    };

    beforeAll(async () => {
      upstream = await startMeteredUpstream();
      world = await createWorld(backend);
      const price = formatPrice(parsePrice('input=2.5,output=10,cache-read=0.25,max-output=1000'));
      await world.vault.set(KEY_NAME, Buffer.from('sk-openai-canary'), { upstream: upstream.url, price });
      await world.vault.set(ANTHROPIC_KEY, Buffer.from('sk-ant-canary'), {
        upstream: upstream.url,
        inject: canonicalInject('x-api-key: {}'),
        price,
      });
      await world.vault.set(FREE_KEY, Buffer.from('sk-free-canary'), {
        upstream: upstream.url,
        price: formatPrice(parsePrice('input=0,output=0')),
      });
      proxy = await startTestProxy(world, { logger });
    });
    afterAll(async () => {
      await proxy?.close();
      await world?.close();
      await upstream?.close();
    });

    const client = (token: string) =>
      new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: token, maxRetries: 0, timeout: 10_000 });

    /** What the token's record holds, once every settlement is committed. */
    async function spentOf(token: string): Promise<number> {
      const id = namedToken(token)?.jti;
      const record = (await proxy.store.inner.listTokens(NAMESPACE)).find((t) => t.id === id);
      return record?.spent ?? Number.NaN;
    }

    function anthropicRequest(token: string, body: object) {
      return fetch(`${proxy.url}/v1/messages`, {
        method: 'POST',
        headers: {
          'x-api-key': token,
          'content-type': 'application/json',
          'anthropic-version': '2023-06-01',
        },
        body: JSON.stringify(body),
      });
    }

    it('charges a non-streamed OpenAI answer exactly its tokens × price, not a usage quoted in its text', async () => {
      upstream.state.behaviour = { input: 1234, output: 567 };
      const token = await world.mint();
      const answer = await client(token).chat.completions.create({
        model: 'gpt-fake',
        messages: [{ role: 'user', content: PROMPT }],
        max_tokens: 800,
      });
      expect(answer.usage?.completion_tokens).toBe(567);
      await expect.poll(() => spentOf(token)).toBe(micro(1234, 567));
      expect(micro(1234, 567)).toBe(8755);
      // Listed in the price's unit (egg tokens list, the console).
      const listed = (await world.tokens.list()).find((t) => t.id === namedToken(token)?.jti);
      expect(listed).toMatchObject({ priced: true, spentUnits: '0.008755', spendUnits: '1' });
    });

    it('charges a streamed OpenAI answer (include_usage) exactly its tokens × price, cached prompt tokens at their price', async () => {
      upstream.state.behaviour = { input: 3000, output: 41, cacheRead: 2000 };
      const token = await world.mint();
      const stream = await client(token).chat.completions.create({
        model: 'gpt-fake',
        messages: [{ role: 'user', content: PROMPT }],
        max_completion_tokens: 500,
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let usage: OpenAI.CompletionUsage | undefined | null;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        usage = chunk.usage ?? usage;
      }
      expect(text).toBe(COMPLETION);
      expect(usage?.prompt_tokens).toBe(3000);
      await expect.poll(() => spentOf(token)).toBe(micro(1000, 41, 2000));
    });

    it('charges an Anthropic-shaped answer exactly its tokens × price, streamed (cumulative message_delta) or not', async () => {
      upstream.state.behaviour = { input: 900, output: 250, cacheRead: 100 };
      const plain = await world.mint({ key: ANTHROPIC_KEY });
      const answer = await anthropicRequest(plain, {
        model: 'claude-fake',
        max_tokens: 300,
        messages: [{ role: 'user', content: PROMPT }],
      });
      expect(answer.status).toBe(200);
      expect(((await answer.json()) as { usage: { output_tokens: number } }).usage.output_tokens).toBe(250);
      await expect.poll(() => spentOf(plain)).toBe(micro(900, 250, 100));

      const streamed = await world.mint({ key: ANTHROPIC_KEY });
      const events = await anthropicRequest(streamed, {
        model: 'claude-fake',
        max_tokens: 300,
        stream: true,
        messages: [{ role: 'user', content: PROMPT }],
      });
      expect(await events.text()).toContain('message_stop');
      await expect.poll(() => spentOf(streamed)).toBe(micro(900, 250, 100));
    });

    it('forwards only the concurrent requests whose worst case fits the remaining cap (no overspend)', async () => {
      const release = Promise.withResolvers<void>();
      upstream.state.behaviour = { input: 10, output: 10, hold: release.promise };
      const body = JSON.stringify({
        model: 'claude-fake',
        max_tokens: 100,
        messages: [{ role: 'user', content: PROMPT }],
      });
      // Every byte an input token at 2.5, plus 100 output tokens at 10.
      const worst = Math.ceil((Buffer.byteLength(body) * 2_500_000 + 100 * 10_000_000) / 1_000_000);
      const token = await world.mint({ key: ANTHROPIC_KEY, spend: 3 * worst + Math.floor(worst / 2) });
      const received = upstream.state.received;
      const answers = Array.from({ length: 8 }, () =>
        fetch(`${proxy.url}/v1/messages`, {
          method: 'POST',
          headers: { 'x-api-key': token, 'content-type': 'application/json' },
          body,
        }),
      );
      // The refusals come while the three that fit are held upstream.
      const refusals: number[] = [];
      for (const a of answers) void a.then((r) => r.status === 402 && refusals.push(r.status));
      await expect.poll(() => refusals.length).toBe(5);
      await expect.poll(() => upstream.state.received - received).toBe(3);
      expect(await spentOf(token)).toBe(3 * worst);
      release.resolve();
      const statuses = await Promise.all(answers.map(async (a) => (await a).status));
      expect(statuses.filter((s) => s === 200)).toHaveLength(3);
      await expect.poll(() => spentOf(token)).toBe(3 * micro(10, 10));
    });

    it('charges an upstream that reports more than was reserved what it reported, and caps the token after', async () => {
      upstream.state.behaviour = { input: 50, output: 2_000_000 };
      const token = await world.mint({ spend: 1_000_000 });
      await client(token).chat.completions.create({
        model: 'gpt-fake',
        messages: [{ role: 'user', content: PROMPT }],
        max_tokens: 10,
      });
      await expect.poll(() => spentOf(token)).toBe(micro(50, 2_000_000));
      expect(micro(50, 2_000_000)).toBeGreaterThan(1_000_000);
      const refused = await fetch(`${proxy.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-fake', max_tokens: 1, messages: [] }),
      });
      expect(refused.status).toBe(402);
    });

    it('keeps the whole reservation of a stream cut before its usage, and of an answer that reports none', async () => {
      upstream.state.behaviour = { input: 10, output: 10, cut: true };
      const cut = await world.mint({ key: ANTHROPIC_KEY });
      const body = JSON.stringify({ model: 'claude-fake', max_tokens: 200, stream: true, messages: [] });
      const worst = Math.ceil((Buffer.byteLength(body) * 2_500_000 + 200 * 10_000_000) / 1_000_000);
      const answer = await anthropicRequest(cut, JSON.parse(body) as object);
      await expect(answer.text()).rejects.toThrow();
      await expect.poll(() => spentOf(cut)).toBe(worst);

      // Streamed without stream_options.include_usage: no usage chunk, the worst case stays.
      upstream.state.behaviour = { input: 10, output: 10 };
      const silent = await world.mint();
      const request = { model: 'gpt-fake', stream: true, messages: [] };
      const noMax = Math.ceil(
        (Buffer.byteLength(JSON.stringify(request)) * 2_500_000 + 1000 * 10_000_000) / 1_000_000,
      );
      const stream = await fetch(`${proxy.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${silent}`, 'content-type': 'application/json' },
        body: JSON.stringify(request),
      });
      expect(await stream.text()).toContain('[DONE]');
      // No max_tokens: the table's max-output (1000) was reserved, and stays.
      await expect.poll(() => spentOf(silent)).toBe(noMax);
    });

    it('refuses a request whose worst case the remaining cap cannot cover, without forwarding it', async () => {
      upstream.state.behaviour = { input: 1, output: 1 };
      const token = await world.mint({ spend: 5000 });
      const received = upstream.state.received;
      const refused = await fetch(`${proxy.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-fake', messages: [{ role: 'user', content: PROMPT }] }),
      });
      expect(refused.status).toBe(402);
      expect(upstream.state.received).toBe(received);
      // The per-request cost reserved first is given back: nothing was spent.
      await expect.poll(() => spentOf(token)).toBe(0);
    });

    it('refuses a signed token with no record on a priced key whose worst case is 0 (the reservation still proves the record)', async () => {
      upstream.state.behaviour = { input: 1, output: 1 };
      const post = (token: string) =>
        fetch(`${proxy.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-fake', max_tokens: 5, messages: [] }),
        });
      // A minted token first: the key's price is in the proxy's key cache from then on.
      expect((await post(await world.mint({ key: FREE_KEY }))).status).toBe(200);
      const received = upstream.state.received;
      const claims = claimsAt(Math.floor(Date.now() / 1000), { native: true }, NAMESPACE, FREE_KEY);
      const unrecorded = await signClaims(world.signer, claims);
      expect((await post(unrecorded)).status).toBe(401);
      expect(upstream.state.received).toBe(received);
    });

    it('writes no prompt or completion text to any log line or warning', () => {
      expect(proxy.logs.length).toBeGreaterThan(5);
      for (const line of [...proxy.logs, ...warnings]) {
        expect(line).not.toContain('PROMPT-TEXT');
        expect(line).not.toContain('COMPLETION-TEXT');
      }
    });
  });
