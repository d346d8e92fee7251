/**
 * A stand-in browser for `egg login --flow browser`, run as `EGG_BROWSER="node fake-browser.ts"`
 * (Node strips the types): it gets the authorization URL as its last argument, probes the
 * loopback listener from addresses other than 127.0.0.1, follows the issuer's redirect to the
 * callback as a browser would, then knocks again. What it saw goes to `$FAKE_BROWSER_OUT` as
 * JSON. `FAKE_BROWSER_MODE=ignore` makes it do nothing (a user who never signs in).
 * Only node: builtins, so it runs without the test's TypeScript hooks.
 */
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';

export interface FakeBrowserReport {
  authorizeStatus: number;
  callbackStatus?: number;
  page?: string;
  headers?: Record<string, string>;
  /** Connection attempts to the listener's port on addresses other than 127.0.0.1. */
  probes: { host: string; connected: boolean }[];
  /** A second request to the callback after the first: `refused` when nothing listens. */
  second?: string;
}

/** Whether a TCP connection to host:port is accepted within a second. */
function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    const done = (connected: boolean) => {
      socket.destroy();
      resolve(connected);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

async function main(): Promise<void> {
  if (process.env.FAKE_BROWSER_MODE === 'ignore') return;
  const url = process.argv.at(-1) ?? '';
  const port = Number(new URL(new URL(url).searchParams.get('redirect_uri') ?? '').port);
  const others = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && !a.internal && a.family === 'IPv4')
    .map((a) => a?.address as string);
  const probes = [];
  for (const host of ['127.0.0.2', '::1', ...others])
    probes.push({ host, connected: await canConnect(host, port) });

  const report: FakeBrowserReport = { authorizeStatus: 0, probes };
  const authorize = await fetch(url, { redirect: 'manual' });
  report.authorizeStatus = authorize.status;
  const location = authorize.headers.get('location');
  if (location !== null) {
    const callback = await fetch(location);
    report.callbackStatus = callback.status;
    report.page = await callback.text();
    report.headers = Object.fromEntries(callback.headers);
    try {
      report.second = String((await fetch(location)).status);
    } catch (error) {
      const code = (error as { cause?: { code?: string } }).cause?.code;
      report.second = code === 'ECONNREFUSED' ? 'refused' : String(code);
    }
  }
  if (process.env.FAKE_BROWSER_OUT) writeFileSync(process.env.FAKE_BROWSER_OUT, JSON.stringify(report));
}

await main();
