/**
 * A raw HTTP/1.1 client for proxy tests: writes exactly the bytes given (any framing, any
 * method, half a body) on a fresh connection and reads one response, sized by its
 * Content-Length, chunked, or ended by the close.
 */
import net from 'node:net';

export interface RawReply {
  status: number;
  /** Header names lowercased. */
  headers: Record<string, string>;
  body: string;
  /** Everything the server sent, as received. */
  raw: string;
}

/** A connection to `base` on which the test writes, and reads replies one at a time. */
export interface RawConnection {
  socket: net.Socket;
  write(bytes: string | Buffer): void;
  /** The next reply (`head`: to a HEAD, so no body), or the bytes so far if the server closes first (status 0). */
  reply(options?: { head?: boolean }): Promise<RawReply>;
  /** Resolves when the server has closed the connection. */
  closed: Promise<void>;
  close(): void;
}

export async function connectRaw(base: string): Promise<RawConnection> {
  const url = new URL(base);
  const socket = net.connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  let buffered = Buffer.alloc(0);
  let ended = false;
  const waiters: (() => void)[] = [];
  const wake = () => {
    for (const waiter of waiters.splice(0)) waiter();
  };
  socket.on('data', (data: Buffer) => {
    buffered = Buffer.concat([buffered, data]);
    wake();
  });
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      ended = true;
      wake();
      resolve();
    }),
  );
  return {
    socket,
    write: (bytes) => socket.write(bytes),
    closed,
    close: () => socket.destroy(),
    reply: async (options = {}) => {
      for (;;) {
        const parsed = parseReply(buffered, ended, options.head ?? false);
        if (parsed !== undefined) {
          buffered = buffered.subarray(parsed.used);
          return parsed.reply;
        }
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}

/** Send `bytes` on a fresh connection and read one reply, then close. */
export async function sendRaw(base: string, bytes: string | Buffer): Promise<RawReply> {
  const connection = await connectRaw(base);
  try {
    connection.write(bytes);
    return await connection.reply({ head: Buffer.from(bytes).subarray(0, 5).toString() === 'HEAD ' });
  } finally {
    connection.close();
  }
}

function parseReply(
  data: Buffer,
  ended: boolean,
  head: boolean,
): { reply: RawReply; used: number } | undefined {
  const end = data.indexOf('\r\n\r\n');
  const closedEarly = () =>
    ended
      ? { reply: { status: 0, headers: {}, body: '', raw: data.toString('latin1') }, used: data.length }
      : undefined;
  if (end < 0) return closedEarly();
  const lines = data.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number((lines[0] ?? '').split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  const start = end + 4;
  const done = (body: Buffer, used: number) => ({
    reply: { status, headers, body: body.toString(), raw: data.subarray(0, used).toString('latin1') },
    used,
  });
  if (status === 100 || head) return done(Buffer.alloc(0), start);
  if (headers['content-length'] !== undefined) {
    const size = Number(headers['content-length']);
    if (data.length < start + size) return ended ? done(data.subarray(start), data.length) : undefined;
    return done(data.subarray(start, start + size), start + size);
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    let at = start;
    for (;;) {
      const lineEnd = data.indexOf('\r\n', at);
      if (lineEnd < 0) return ended ? done(Buffer.concat(parts), data.length) : undefined;
      const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
      at = lineEnd + 2;
      if (size === 0) {
        if (data.length < at + 2) return ended ? done(Buffer.concat(parts), data.length) : undefined;
        return done(Buffer.concat(parts), at + 2);
      }
      if (data.length < at + size + 2) return ended ? done(Buffer.concat(parts), data.length) : undefined;
      parts.push(data.subarray(at, at + size));
      at += size + 2;
    }
  }
  return ended ? done(data.subarray(start), data.length) : undefined;
}
