/** A raw HTTP client for proxy tests: any method, any target (absolute-form too), any Host. */
import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function send(
  base: string,
  options: {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    token?: string;
    /** The client socket's own address (the loopback range gives many: 127.0.0.2, 127.0.0.3, …). */
    localAddress?: string;
  } = {},
): Promise<RawResponse> {
  const url = new URL(base);
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
        path: options.path ?? '/v1/echo',
        headers,
        agent: false,
        setHost: headers.host === undefined,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
