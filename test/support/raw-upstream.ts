/**
 * A loopback upstream that speaks HTTP/1.1 keep-alive by hand on raw `net` sockets, for the
 * proxy's framing tests. Node's own HTTP server would refuse or repair some of what a
 * smuggling attack puts on the wire; this one parses exactly as RFC 9112 §6 says a server
 * reads a request (Transfer-Encoding chunked, else Content-Length, else no body), so bytes
 * the proxy forwards without framing are read as the start of the next request on that
 * socket, as a real upstream would read them.
 *
 * Every request is recorded with the socket it came on. Routes:
 * - `/early`: answers as soon as the head is read and never reads the body (the socket then
 *   stays open, reading nothing, until the other side closes it);
 * - `/hang`: reads the request and never answers;
 * - `/status/NNN`: answers with that status;
 * - anything else: 200 with `{ method, path, socket }` as JSON.
 */
import net from 'node:net';

export interface RawRequest {
  /** Which connection it came on (1, 2, … in order of arrival). */
  socket: number;
  method: string;
  path: string;
  /** Header names lowercased; a repeated header keeps every value, joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

export interface RawUpstream {
  url: string;
  requests: RawRequest[];
  /** Connections accepted so far. */
  opened(): number;
  /** Connections still open. */
  open(): number;
  close(): Promise<void>;
}

type Parsed = { request: Omit<RawRequest, 'socket'>; used: number } | 'incomplete' | 'invalid';

export async function startRawUpstream(): Promise<RawUpstream> {
  const requests: RawRequest[] = [];
  const sockets = new Set<net.Socket>();
  let opened = 0;
  const server = net.createServer((socket) => {
    const id = ++opened;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    let reading = true;
    socket.on('data', (data: Buffer) => {
      if (!reading) return;
      buffered = Buffer.concat([buffered, data]);
      for (;;) {
        const parsed = parseRequest(buffered, { bodyOf: (path) => path !== '/early' });
        if (parsed === 'incomplete') return;
        if (parsed === 'invalid') {
          socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
          reading = false;
          return;
        }
        buffered = buffered.subarray(parsed.used);
        const { request } = parsed;
        requests.push({ ...request, socket: id });
        if (request.path === '/early') {
          respond(socket, request.method, 200, { early: true });
          reading = false;
          return;
        }
        if (request.path === '/hang') {
          reading = false;
          return;
        }
        const status = /^\/status\/(\d{3})$/.exec(request.path);
        if (status) respond(socket, request.method, Number(status[1]), { status: Number(status[1]) });
        else respond(socket, request.method, 200, { method: request.method, path: request.path, socket: id });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    opened: () => opened,
    open: () => sockets.size,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function respond(socket: net.Socket, method: string, status: number, json: unknown): void {
  const body = Buffer.from(JSON.stringify(json));
  const head = `HTTP/1.1 ${status} X\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  socket.write(method === 'HEAD' ? head : Buffer.concat([Buffer.from(head), body]));
}

/** One request from the front of `data` (RFC 9112 §2–§7), or why there is none yet. */
function parseRequest(data: Buffer, options: { bodyOf: (path: string) => boolean }): Parsed {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return 'incomplete';
  const lines = data.subarray(0, end).toString('latin1').split('\r\n');
  const [method, path, version] = (lines[0] ?? '').split(' ');
  if (method === undefined || path === undefined || version !== 'HTTP/1.1') return 'invalid';
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon < 1) return 'invalid';
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  let at = end + 4;
  const request = { method, path, headers, body: Buffer.alloc(0) };
  if (!options.bodyOf(path)) return { request, used: at };
  const te = headers['transfer-encoding'];
  if (te !== undefined) {
    if (!/(^|,)\s*chunked\s*$/i.test(te)) return 'invalid';
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = data.indexOf('\r\n', at);
      if (lineEnd < 0) return 'incomplete';
      const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1').split(';')[0]!, 16);
      if (!Number.isFinite(size)) return 'invalid';
      at = lineEnd + 2;
      if (size === 0) {
        // Trailer fields, then the empty line.
        for (;;) {
          const trailerEnd = data.indexOf('\r\n', at);
          if (trailerEnd < 0) return 'incomplete';
          const empty = trailerEnd === at;
          at = trailerEnd + 2;
          if (empty) return { request: { ...request, body: Buffer.concat(parts) }, used: at };
        }
      }
      if (data.length < at + size + 2) return 'incomplete';
      parts.push(data.subarray(at, at + size));
      at += size + 2;
    }
  }
  const length = headers['content-length'];
  if (length === undefined) return { request, used: at };
  if (!/^\d+$/.test(length)) return 'invalid';
  const size = Number(length);
  if (data.length < at + size) return 'incomplete';
  return { request: { ...request, body: data.subarray(at, at + size) }, used: at + size };
}
