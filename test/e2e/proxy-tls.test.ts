/**
 * `egg proxy serve --tls-cert --tls-key` (built CLI; issue 9, item 7): HTTPS with TLS 1.3
 * by default, TLS 1.2 only when asked and then with AEAD ciphers only, the official openai
 * client over it, nothing for plain HTTP on the TLS port, and one sentence naming the file
 * for every bad certificate or key. The certificate is made with `openssl` at test time.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EGG_BIN, egg, findLeaks } from '../support/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../support/fake-upstream.js';
import { type ServeProcess, startServe } from '../support/proxy-serve.js';
import { sendRaw } from '../support/raw-client.js';
import { makeTestCertificate, type TestCertificate } from '../support/tls-cert.js';

const KEY = 'sk-tls-canary-61f0a9d2-DO-NOT-LEAK';
const ORIGIN = 'https://app.example.com';

/** A TLS handshake with the proxy: the version and cipher agreed, or the error's code. */
function handshake(url: string, ca: string, options: tls.ConnectionOptions = {}) {
  const { hostname, port } = new URL(url);
  return new Promise<{ protocol: string | null; cipher: string } | { error: string }>((resolve) => {
    const socket = tls.connect(
      { host: hostname, port: Number(port), ca, servername: 'localhost', ...options },
      () => {
        resolve({ protocol: socket.getProtocol(), cipher: socket.getCipher().name });
        socket.destroy();
      },
    );
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
  });
}

describe('egg proxy serve over TLS', () => {
  let base: string;
  let env: NodeJS.ProcessEnv;
  let upstream: FakeUpstream;
  let token: string;
  let certificate: TestCertificate;
  let ca: string;
  const outputs: string[] = [];
  const running: ServeProcess[] = [];

  const serve = async (args: string[] = []) => {
    const proxy = await startServe(env, [
      '--tls-cert',
      certificate.certFile,
      '--tls-key',
      certificate.keyFile,
      ...args,
    ]);
    running.push(proxy);
    return proxy;
  };

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'egg-tls-e2e-'));
    env = { EGG_HOME: join(base, 'home'), EGG_NAMESPACE: 'acme/web' };
    upstream = await startFakeUpstream();
    certificate = makeTestCertificate(base);
    ca = readFileSync(certificate.certFile, 'utf8');
    expect(egg(['secrets', 'set', 'OPENAI_KEY', '--upstream', upstream.url], { env, input: KEY }).code).toBe(
      0,
    );
    const minted = egg(
      ['tokens', 'mint', '--key', 'OPENAI_KEY', '--origin', ORIGIN, '--rps', '100', '--spend', '1000'],
      { env },
    );
    expect(minted.code).toBe(0);
    token = minted.stdout.trim();
  });
  afterAll(async () => {
    for (const proxy of running) {
      proxy.child.kill('SIGTERM');
      await proxy.exited(20_000);
      outputs.push(proxy.stdout(), proxy.stderr());
    }
    for (const output of outputs) expect(findLeaks(output, KEY)).toEqual([]);
    await upstream?.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('speaks TLS 1.3 by default and refuses a TLS 1.2 client', async () => {
    const proxy = await serve();
    expect(proxy.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await handshake(proxy.url, ca)).toMatchObject({ protocol: 'TLSv1.3' });
    const old = await handshake(proxy.url, ca, { maxVersion: 'TLSv1.2' });
    expect(old).toEqual({ error: expect.stringMatching(/PROTOCOL_VERSION/) });
  });

  it('accepts TLS 1.2 with --tls-min 1.2, with ECDHE and AEAD ciphers only', async () => {
    const proxy = await serve(['--tls-min', '1.2']);
    const agreed = await handshake(proxy.url, ca, { maxVersion: 'TLSv1.2' });
    expect(agreed).toMatchObject({
      protocol: 'TLSv1.2',
      cipher: expect.stringMatching(/^ECDHE-.*(GCM|CHACHA20)/),
    });
    // A client that offers only CBC suites finds nothing in common.
    const cbc = await handshake(proxy.url, ca, {
      maxVersion: 'TLSv1.2',
      ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA',
    });
    expect(cbc).toEqual({ error: expect.stringMatching(/HANDSHAKE_FAILURE|NO_SHARED_CIPHER/) });
    expect(await handshake(proxy.url, ca)).toMatchObject({ protocol: 'TLSv1.3' });
  });

  it('serves the official openai client over HTTPS, with the real key injected upstream', async () => {
    const proxy = await serve();
    const defaults = tls.getCACertificates('default');
    tls.setDefaultCACertificates([...defaults, ca]);
    try {
      const before = upstream.requests.length;
      const client = new OpenAI({
        baseURL: `${proxy.url.replace('127.0.0.1', 'localhost')}/v1`,
        apiKey: token,
        maxRetries: 0,
        timeout: 10_000,
        defaultHeaders: { Origin: ORIGIN },
      });
      const completion = await client.chat.completions.create({
        model: 'gpt-fake',
        messages: [{ role: 'user', content: 'hi' }],
      });
      expect(completion.choices[0]!.message.content).toBe('hello from upstream');
      expect(upstream.requests.length).toBe(before + 1);
      expect(upstream.requests[before]!.headers.authorization).toBe(`Bearer ${KEY}`);
    } finally {
      tls.setDefaultCACertificates(defaults);
    }
  });

  it('answers plain HTTP on the TLS port with nothing, and forwards nothing', async () => {
    const proxy = await serve();
    const before = upstream.requests.length;
    const reply = await sendRaw(
      proxy.url.replace('https:', 'http:'),
      `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nOrigin: ${ORIGIN}\r\nAuthorization: Bearer ${token}\r\nContent-Length: 2\r\n\r\n{}`,
    );
    expect(reply.status).toBe(0);
    expect(findLeaks(reply.raw, KEY)).toEqual([]);
    expect(findLeaks(reply.raw, token)).toEqual([]);
    expect(upstream.requests.length).toBe(before);
  });

  it('refuses a bad certificate or key file with one sentence naming it', () => {
    const other = makeTestCertificate(base, 'other');
    const notPem = join(base, 'not.pem');
    writeFileSync(notPem, 'hello\n', { mode: 0o600 });
    const open = join(base, 'open.key');
    writeFileSync(open, readFileSync(certificate.keyFile), { mode: 0o600 });
    chmodSync(open, 0o644);
    const fifo = join(base, 'fifo.key');
    spawnSync('mkfifo', [fifo]);
    chmodSync(fifo, 0o600);
    const missing = join(base, 'missing.crt');
    const { certFile, keyFile } = certificate;
    const cases: [string[], number, string][] = [
      [
        ['--tls-cert', missing, '--tls-key', keyFile],
        2,
        `Error: --tls-cert ${missing} cannot be read (ENOENT)`,
      ],
      [
        ['--tls-cert', notPem, '--tls-key', keyFile],
        2,
        `Error: --tls-cert ${notPem} is not a PEM certificate`,
      ],
      [
        ['--tls-cert', certFile, '--tls-key', notPem],
        2,
        `Error: --tls-key ${notPem} is not an unencrypted PEM private key`,
      ],
      [
        ['--tls-cert', certFile, '--tls-key', other.keyFile],
        2,
        `Error: --tls-key ${other.keyFile} is not the private key of the certificate in --tls-cert ${certFile}`,
      ],
      [
        ['--tls-cert', certFile, '--tls-key', open],
        1,
        `Error: --tls-key ${open} is open to other users (mode 0644); refusing to use a private key others can read`,
      ],
      [['--tls-cert', certFile, '--tls-key', fifo], 2, `Error: --tls-key ${fifo} is not a regular PEM file`],
    ];
    for (const [args, code, sentence] of cases) {
      const result = spawnSync(process.execPath, [EGG_BIN, 'proxy', 'serve', '--port', '0', ...args], {
        env: { ...process.env, FORCE_COLOR: '0', ...env },
        timeout: 30_000,
      });
      const stderr = result.stderr.toString();
      // The sentence, then its hint in parentheses; one line.
      expect({ status: result.status, first: stderr.slice(0, sentence.length) }).toEqual({
        status: code,
        first: sentence,
      });
      expect(stderr.slice(sentence.length)).toMatch(/^ \([^\n]+\)\.\n$/);
      outputs.push(stderr, result.stdout.toString());
    }
    const usage = spawnSync(process.execPath, [EGG_BIN, 'proxy', 'serve', '--tls-min', '1.2'], {
      env: { ...process.env, FORCE_COLOR: '0', ...env },
      timeout: 30_000,
    });
    expect(usage.status).toBe(2);
  });
});
