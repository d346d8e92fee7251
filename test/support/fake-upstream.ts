/**
 * A loopback provider API for proxy tests: records every request (method, path, headers,
 * body) and answers by route:
 * - `/sse` streams `count` server-sent events `gapMs` apart (query `?count=&gapMs=`);
 * - `/hang` never answers (timeouts);
 * - `/v1/chat/completions` answers like OpenAI's API (streamed when the body asks; with
 *   `chatGate` set, each chunk after the first waits for it, so a test can hold the stream
 *   until its client has seen the chunk before);
 * - anything else echoes `{ ok, method, path }` as JSON.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UpstreamRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface FakeUpstream {
  url: string;
  port: number;
  requests: UpstreamRequest[];
  /** Awaited before streamed chat chunk `chunk` (1, 2, …; the last is the final one) is written. */
  chatGate: ((chunk: number) => Promise<void>) | undefined;
  close(): Promise<void>;
}

export async function startFakeUpstream(options: { host?: string } = {}): Promise<FakeUpstream> {
  const requests: UpstreamRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    const path = req.url ?? '';
    const url = new URL(path, 'http://upstream.invalid');
    if (url.pathname === '/sse') {
      requests.push({ method: req.method ?? '', path, headers: req.headers, body: Buffer.alloc(0) });
      const count = Number(url.searchParams.get('count') ?? 5);
      const gap = Number(url.searchParams.get('gapMs') ?? 200);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      for (let i = 0; i < count; i++) {
        res.write(`id: ${i}\ndata: {"n":${i},"at":${Date.now()}}\n\n`);
        await new Promise((resolve) => setTimeout(resolve, gap));
      }
      res.end();
      return;
    }
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    requests.push({ method: req.method ?? '', path, headers: req.headers, body });
    if (url.pathname === '/hang') return;
    if (url.pathname === '/v1/chat/completions') return chatCompletion(body, res, upstream.chatGate);
    const reply = JSON.stringify({ ok: true, method: req.method, path, bytes: body.length });
    res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes' });
    res.end(reply);
  });
  await new Promise<void>((resolve) => server.listen(0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const upstream: FakeUpstream = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    chatGate: undefined,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return upstream;
}

/** Just enough of OpenAI's Chat Completions API for the official client (stream and not). */
function chatCompletion(
  body: Buffer,
  res: import('node:http').ServerResponse,
  gate: FakeUpstream['chatGate'],
): void {
  let stream = false;
  try {
    stream = (JSON.parse(body.toString()) as { stream?: boolean }).stream === true;
  } catch {}
  const base = { id: 'chatcmpl-fake', object: 'chat.completion', created: 1_700_000_000, model: 'gpt-fake' };
  if (!stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        ...base,
        choices: [
          { index: 0, message: { role: 'assistant', content: 'hello from upstream' }, finish_reason: 'stop' },
        ],
        usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 },
      }),
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const words = ['hello', ' from', ' upstream'];
  void (async () => {
    for (let i = 0; i <= words.length; i++) {
      // Chunks 50 ms apart, or each when the test's gate lets it go.
      if (i > 0) await (gate === undefined ? new Promise((resolve) => setTimeout(resolve, 50)) : gate(i));
      if (i < words.length) {
        const chunk = {
          ...base,
          object: 'chat.completion.chunk',
          choices: [{ index: 0, delta: { content: words[i] }, finish_reason: null }],
        };
        res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      } else {
        const done = {
          ...base,
          object: 'chat.completion.chunk',
          choices: [{ index: 0, delta: {}, finish_reason: 'stop' }],
        };
        res.end(`data: ${JSON.stringify(done)}\n\ndata: [DONE]\n\n`);
      }
    }
  })();
}
