/**
 * A loopback fake of AWS's JSON protocols (awsJson1_0 for DynamoDB, awsJson1_1 for KMS),
 * for the failures DynamoDB Local and moto never produce: access denials, throttling,
 * UnprocessedKeys, 5xx. Answers are scripted per request; requests are recorded.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRequest {
  /** The operation, from `X-Amz-Target` ("DynamoDB_20120810.BatchGetItem" → "BatchGetItem"). */
  operation: string;
  body: Record<string, unknown>;
}

export type FakeAnswer =
  { status?: number; body: unknown } | { error: string; status?: number; message?: string };

export interface FakeAws {
  endpoint: string;
  requests: FakeRequest[];
  /** Distinct TCP connections the clients opened. */
  connections: () => number;
  close(): Promise<void>;
}

export async function startFakeAws(
  answer: (request: FakeRequest, index: number) => FakeAnswer | Promise<FakeAnswer>,
): Promise<FakeAws> {
  const requests: FakeRequest[] = [];
  const server = createServer(async (req, res) => {
    const body = JSON.parse((await readBody(req)) || '{}') as Record<string, unknown>;
    const target = String(req.headers['x-amz-target'] ?? '');
    const request = { operation: target.slice(target.indexOf('.') + 1), body };
    requests.push(request);
    const reply = await answer(request, requests.length - 1);
    const contentType = target.startsWith('DynamoDB')
      ? 'application/x-amz-json-1.0'
      : 'application/x-amz-json-1.1';
    if ('error' in reply) {
      res.writeHead(reply.status ?? 400, { 'content-type': contentType, 'x-amzn-requestid': 'fake' });
      res.end(JSON.stringify({ __type: reply.error, message: reply.message ?? `fake ${reply.error}` }));
      return;
    }
    res.writeHead(reply.status ?? 200, { 'content-type': contentType, 'x-amzn-requestid': 'fake' });
    res.end(JSON.stringify(reply.body));
  });
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    connections: () => connections,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
