#!/usr/bin/env node
// `npm run demo`: a guided tour of Egg Carton on the embedded default, in a throw-away
// EGG_HOME. Every command shown is run for real through the built `egg` CLI. The proxy part
// talks only to loopback: a stand-in upstream this script runs itself, and `egg proxy serve`.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const eggBin = join(root, 'cli/bin/egg.js');
const base = mkdtempSync(join(tmpdir(), 'egg-demo-'));
const home = join(base, 'home');
const env = { ...process.env, EGG_HOME: home, EGG_NAMESPACE: 'acme/web/prod', FORCE_COLOR: '0' };
const tty = process.stdout.isTTY;
const bold = (s) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s) => (tty ? `\x1b[2m${s}\x1b[0m` : s);
let step = 0;

function section(title, explain) {
  step++;
  process.stdout.write(`\n${bold(`${step}. ${title}`)}\n${dim(explain)}\n`);
}

/** Run `egg ARGS` (optionally with stdin), echo the command line and its output, fail loudly. */
function egg(args, { input, show = args.join(' '), expectCode = 0, extraEnv = {}, cwd = base } = {}) {
  process.stdout.write(`${bold('$')} egg ${show}\n`);
  const result = spawnSync(process.execPath, [eggBin, ...args], {
    env: { ...env, ...extraEnv },
    input,
    cwd,
  });
  const out = Buffer.concat([result.stdout, result.stderr]).toString();
  process.stdout.write(out.replace(/^/gm, '  ').replace(/ +$/, ''));
  if (!out.endsWith('\n') && out.length > 0) process.stdout.write('\n');
  if (result.status !== expectCode) {
    process.stderr.write(`demo: \`egg ${show}\` exited ${result.status}, expected ${expectCode}\n`);
    process.exit(1);
  }
  return out;
}

/** Processes and servers this demo started: always stopped, whatever happens. */
const running = { proxy: undefined, upstream: undefined, rotator: undefined };
process.on('exit', () => {
  running.proxy?.kill('SIGKILL');
  running.rotator?.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));

/**
 * A stand-in for a provider API on loopback: it answers every request with whether it
 * received the real key and whether any egg token reached it. It never prints the key.
 */
async function startUpstream(realKey) {
  const seen = [];
  const server = http.createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    const answer = {
      upstream: 'loopback stand-in for the provider',
      path: req.url,
      receivedRealKey: auth === `Bearer ${realKey}`,
      receivedEggToken: JSON.stringify(req.headers).includes('egg_'),
    };
    seen.push(answer);
    req.resume();
    req.on('end', () =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer)),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  running.upstream = server;
  return { url: `http://127.0.0.1:${server.address().port}`, seen };
}

/** `egg proxy serve` on a free loopback port; resolves its URL once it listens. */
async function startProxy() {
  const child = spawn(process.execPath, [eggBin, 'proxy', 'serve', '--port', '0'], { env, cwd: base });
  running.proxy = child;
  const log = [];
  child.stdout.setEncoding('utf8').on('data', (chunk) => log.push(chunk));
  let stderr = '';
  const url = await new Promise((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (chunk) => {
      stderr += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`egg proxy serve exited ${code}: ${stderr.trim()}`)));
  });
  return { url, log };
}

async function stopProxy() {
  const child = running.proxy;
  if (child === undefined || child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
  running.proxy = undefined;
}

/**
 * Deferred rotation: a reader that may not write (a read-only CI role) only records its
 * read, and `egg rotate --follow` re-encrypts what was read.
 */
async function deferredRotation() {
  section(
    'Read-only readers: deferred rotation',
    'With EGG_ROTATION=deferred the reader writes nothing but its read record; `egg rotate --follow` (on AWS: a Lambda on the table stream) re-encrypts what was read.',
  );
  const gen = (name) =>
    JSON.parse(
      spawnSync(process.execPath, [eggBin, 'secrets', 'list', '--json'], {
        env,
        cwd: base,
      }).stdout.toString(),
    ).find((s) => s.name === name).gen;
  process.stdout.write(`${bold('$')} egg rotate --follow --interval 100 &\n`);
  const rotator = spawn(process.execPath, [eggBin, 'rotate', '--follow', '--interval', '100'], {
    env,
    cwd: base,
  });
  running.rotator = rotator;
  const lines = [];
  rotator.stdout.setEncoding('utf8').on('data', (chunk) => lines.push(...chunk.split('\n').filter(Boolean)));
  const waitFor = async (n) => {
    const deadline = Date.now() + 10_000;
    while (lines.length < n) {
      if (Date.now() > deadline || rotator.exitCode !== null)
        throw new Error('egg rotate --follow stopped answering');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    process.stdout.write(`  ${dim(lines[n - 1])}\n`);
  };
  await waitFor(1); // the startup pass: every secret once
  const before = gen('DATABASE_URL');
  egg(['secrets', 'pull', '--format', 'json', 'DATABASE_URL'], {
    extraEnv: { EGG_ROTATION: 'deferred' },
    show: 'secrets pull --format json DATABASE_URL     # with EGG_ROTATION=deferred',
  });
  await waitFor(2); // the rotator saw the read record and re-encrypted DATABASE_URL
  const after = gen('DATABASE_URL');
  process.stdout.write(
    `  DATABASE_URL gen ${before} → ${after}: re-encrypted by the rotator, not the reader\n`,
  );
  if (after !== before + 1) process.exit(1);
  rotator.kill('SIGTERM');
  await once(rotator, 'exit');
  running.rotator = undefined;
}

/** One call through the proxy, as a web app's code would make it. */
async function call(url, token, origin) {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, origin, 'content-type': 'application/json' },
    body: '{"model":"demo","messages":[{"role":"user","content":"hi"}]}',
  });
  return { status: res.status, body: await res.text() };
}

function fail(message) {
  process.stderr.write(`demo: ${message}\n`);
  process.exit(1);
}

const cert =
  '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUDEMO\nZWdnIGNhcnRvbiBkZW1v\n-----END CERTIFICATE-----\n';

try {
  process.stdout.write(
    `${bold('Egg Carton demo')} — the embedded default: a SQLite vault and a local key in ${home}\n`,
  );

  section('Create a vault', 'A private directory (0700) with the vault and its key-encryption key (0600).');
  egg(['init']);

  section(
    'Store secrets',
    'Values never go on the command line, so they never land in shell history: a variable (as CI\nsets them), a file, or the hidden prompt you get on a terminal. One is a multi-line PEM.',
  );
  egg(['secrets', 'set', 'STRIPE_KEY', '--from-env', 'STRIPE_KEY'], {
    extraEnv: { STRIPE_KEY: 'sk_live_demo_4eC39HqLyjWDarjtT1zdp7dc' },
    show: 'secrets set STRIPE_KEY --from-env STRIPE_KEY      # a variable your CI or password manager set',
  });
  writeFileSync(join(base, 'db-url.txt'), 'postgres://app:p@ss w0rd$@db.internal:5432/app', { mode: 0o600 });
  egg(['secrets', 'set', 'DATABASE_URL', '--from-file', 'db-url.txt'], {
    show: 'secrets set DATABASE_URL --from-file db-url.txt',
  });
  writeFileSync(join(base, 'cert.pem'), cert, { mode: 0o600 });
  egg(['secrets', 'set', 'TLS_CERT'], { input: cert, show: 'secrets set TLS_CERT < cert.pem' });

  section('List them', 'Names and versions only, never values. rev counts sets; gen counts data keys.');
  egg(['secrets', 'list']);

  section(
    'Pull as dotenv and as JSON',
    'Every read decrypts, is audited, and re-encrypts the secret under a fresh data key.',
  );
  egg(['secrets', 'pull', 'STRIPE_KEY', 'TLS_CERT']);
  egg(['secrets', 'pull', '--format', 'json', 'DATABASE_URL']);

  section('Watch gen go up', 'Each read above rotated the data key of what it read: gen is higher now.');
  egg(['secrets', 'list']);

  await deferredRotation();

  section(
    'Run a program with the secrets injected and masked',
    'The child sees the real values; its output shows *** instead, even for one line of the PEM.',
  );
  const script =
    'console.log("stripe key:", process.env.STRIPE_KEY); console.error("db:", process.env.DATABASE_URL); console.log("cert line:", process.env.TLS_CERT.split("\\n")[1]); console.log("length of STRIPE_KEY:", process.env.STRIPE_KEY.length)';
  const masked = egg(['run', '--', process.execPath, '-e', script], {
    show: `run -- node -e '<prints STRIPE_KEY, DATABASE_URL, a line of TLS_CERT>'`,
  });
  if (
    masked.includes('sk_live_demo') ||
    masked.includes('p@ss w0rd') ||
    masked.includes('MIIBszCCAVmgAwIBAgIUDEMO')
  ) {
    process.stderr.write('demo: a secret was not masked\n');
    process.exit(1);
  }
  egg(
    ['run', '--no-mask', '--only', 'STRIPE_KEY', '--', 'sh', '-c', 'echo "unmasked on request: $STRIPE_KEY"'],
    {
      show: `run --no-mask --only STRIPE_KEY -- sh -c 'echo "unmasked on request: $STRIPE_KEY"'`,
    },
  );

  section('Exit codes pass through', "egg exits with the child's code.");
  egg(['run', '--', 'sh', '-c', 'exit 3'], { expectCode: 3, show: "run -- sh -c 'exit 3'    # exits 3" });

  section('Nothing in plain text at rest', 'The vault file holds only ciphertext and wrapped keys.');
  const db = readFileSync(join(home, 'vault.db'));
  const leaked = ['sk_live_demo', 'p@ss w0rd', 'MIIBszCCAVmgAwIBAgIUDEMO'].filter((v) => db.includes(v));
  const mode = (p) => (statSync(p).mode & 0o777).toString(8);
  process.stdout.write(
    `  vault.db: ${db.length} bytes, plaintext values found: ${leaked.length}; modes: home ${mode(home)}, vault.db ${mode(join(home, 'vault.db'))}, kek ${mode(join(home, 'kek'))}\n`,
  );
  if (leaked.length > 0) process.exit(1);

  section(
    'The audit trail',
    'Every call is recorded with time, actor and names (never values), hash-chained.',
  );
  egg(['audit', '--limit', '6']);
  egg(['audit', 'verify']);

  section('Errors say what to fix', 'One sentence, no stack trace, never a value.');
  egg(['secrets', 'get', 'MISSING'], { expectCode: 1 });
  egg(['secrets', 'set', 'not-a-name'], { input: 'x', expectCode: 2 });

  section(
    "A project's .egg.json applies once you trust it",
    'egg reads .egg.json only from the current directory or the repository root, and takes the settings\nthat decide where secrets go (namespace, backend, table, keys, issuer, role) only after `egg trust`.',
  );
  const project = join(base, 'project');
  mkdirSync(join(project, '.git'), { recursive: true });
  writeFileSync(join(project, '.egg.json'), '{ "namespace": "acme/web/prod" }\n');
  const inProject = { cwd: project, extraEnv: { EGG_NAMESPACE: '' } };
  egg(['secrets', 'list'], {
    ...inProject,
    expectCode: 1,
    show: 'secrets list             # in the project',
  });
  egg(['trust'], inProject);
  egg(['secrets', 'list'], inProject);

  section(
    'Store a provider key, pinned to its upstream',
    'A provider key is a secret plus the one origin the proxy may ever send it to. Here that is a\nstand-in for the provider on loopback, which only reports whether it got the real key.',
  );
  const realKey = 'sk-demo-provider-key-9f3c1a7e';
  const upstream = await startUpstream(realKey);
  egg(['secrets', 'set', 'OPENAI_KEY', '--from-env', 'OPENAI_API_KEY', '--upstream', upstream.url], {
    extraEnv: { OPENAI_API_KEY: realKey },
    show: `secrets set OPENAI_KEY --from-env OPENAI_API_KEY --upstream ${upstream.url}`,
  });

  section(
    'Mint a host-bound token',
    "What a release pipeline does: a short-lived token bound to the web app's origin, with rate and\nspend caps. This string is what ships in the app, instead of the key.",
  );
  const mintArgs = ['tokens', 'mint', '--key', 'OPENAI_KEY', '--origin', 'https://app.example.com'];
  mintArgs.push('--ttl', '15m', '--rps', '50', '--burst', '50', '--spend', '1000');
  process.stdout.write(`${bold('$')} egg ${mintArgs.join(' ')}\n`);
  const minted = spawnSync(process.execPath, [eggBin, ...mintArgs, '--json'], { env, cwd: base });
  if (minted.status !== 0) fail(`egg tokens mint exited ${minted.status}: ${minted.stderr}`);
  const { token, id, expiresAt } = JSON.parse(minted.stdout.toString());
  process.stdout.write(
    `  ${token.slice(0, 24)}…${token.slice(-8)}  ${dim(`(${token.length} characters; id ${id}, expires ${expiresAt})`)}\n`,
  );

  section(
    'Start the edge proxy',
    'It verifies each token, checks revocation, Origin, rate and spend, then swaps in the real key.',
  );
  process.stdout.write(`${bold('$')} egg proxy serve --port 0 &\n`);
  const proxy = await startProxy();
  process.stdout.write(`  egg proxy listening on ${proxy.url}\n`);

  section(
    'Call the API through the proxy',
    'The caller holds only the token. The upstream received the real key; no egg token reached it.',
  );
  const show = (origin) =>
    `${bold('$')} curl -X POST ${proxy.url}/v1/chat/completions -H 'Authorization: Bearer egg_…' -H 'Origin: ${origin}'\n`;
  process.stdout.write(show('https://app.example.com'));
  const ok = await call(proxy.url, token, 'https://app.example.com');
  process.stdout.write(`  ${ok.status} ${ok.body}\n`);
  const answer = JSON.parse(ok.body);
  if (ok.status !== 200 || !answer.receivedRealKey || answer.receivedEggToken)
    fail('the proxied call did not swap the token for the key');

  section(
    'A page from another origin is refused',
    'Same token, wrong Origin: 403, and the upstream is never called.',
  );
  process.stdout.write(show('https://evil.example'));
  const calls = upstream.seen.length;
  const refused = await call(proxy.url, token, 'https://evil.example');
  process.stdout.write(`  ${refused.status} ${refused.body}\n`);
  if (refused.status !== 403 || upstream.seen.length !== calls) fail('a wrong Origin was not refused');

  section('Revoke the token', 'Every running proxy sees a revocation within a second; the demo measures it.');
  egg(['tokens', 'revoke', id]);
  // The revocation is written when the command returns; ask every 20 ms until the proxy refuses.
  const revokedAt = performance.now();
  let after;
  for (;;) {
    after = await call(proxy.url, token, 'https://app.example.com');
    if (after.status !== 200 || performance.now() - revokedAt > 3000) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const ms = Math.round(performance.now() - revokedAt);
  process.stdout.write(
    `  ${after.status} ${after.body}\n  ${bold(`refused ${ms} ms after \`egg tokens revoke\` returned`)} ${dim('(proxies poll every 250 ms)')}\n`,
  );
  if (after.status !== 401 || ms > 1000) fail('the revocation was not seen within a second');

  section(
    "The proxy's request log",
    'One JSON line per request: time, token id, status, bytes, latency, a header hash. Never the\ntoken, the key or a body.',
  );
  await stopProxy();
  const lines = proxy.log.join('');
  process.stdout.write(lines.replace(/^/gm, '  ').replace(/ +$/, ''));
  if (lines.includes(token) || lines.includes(realKey) || lines.includes('messages'))
    fail('the request log leaked');

  process.stdout.write(
    `\n${bold('Done.')} ${process.env.EGG_DEMO_KEEP ? `The demo vault is kept: export EGG_HOME=${home}` : 'The demo vault was deleted (EGG_DEMO_KEEP=1 keeps it).'} Next: node cli/bin/egg.js --help\n`,
  );
} finally {
  await stopProxy();
  running.upstream?.closeAllConnections();
  running.upstream?.close();
  if (!process.env.EGG_DEMO_KEEP) rmSync(base, { recursive: true, force: true });
}
