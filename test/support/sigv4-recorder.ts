/**
 * A loopback recorder in front of an AWS endpoint (DynamoDB Local, moto, the fake KMS
 * signer): it notes which access key signed each request (the SigV4 `Credential=` of the
 * Authorization header) and for which operation, then forwards the request unchanged and
 * streams the answer back. Point a process's `AWS_ENDPOINT_URL_<SERVICE>` at it to see
 * whether every client that process builds signs with the same credentials.
 */
import { createServer, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SignedRequest {
  /** The operation from `X-Amz-Target` ("DynamoDB_20120810.Query" → "Query"). */
  operation: string;
  /** The access key id of the SigV4 signature, or "(unsigned)". */
  accessKeyId: string;
}

export interface SigV4Recorder {
  endpoint: string;
  requests: SignedRequest[];
  close(): Promise<void>;
}

export async function startSigV4Recorder(target: string): Promise<SigV4Recorder> {
  const upstream = new URL(target);
  const requests: SignedRequest[] = [];
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const operation = String(req.headers['x-amz-target'] ?? '').replace(/^[^.]*\./, '');
    const credential = /Credential=([^/,\s]+)\//.exec(String(req.headers.authorization ?? ''));
    requests.push({ operation, accessKeyId: credential?.[1] ?? '(unsigned)' });
    const headers = { ...req.headers, host: upstream.host };
    const forwarded = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => res.writeHead(502).end());
    forwarded.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
