#!/usr/bin/env node
// `npm run demo`: a guided tour of Egg Carton on the embedded default, in a throw-away
// EGG_HOME. Every command shown is run for real through the built `egg` CLI.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
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
function egg(args, { input, show = args.join(' '), expectCode = 0 } = {}) {
  process.stdout.write(`${bold('$')} egg ${show}\n`);
  const result = spawnSync(process.execPath, [eggBin, ...args], { env, input, cwd: base });
  const out = Buffer.concat([result.stdout, result.stderr]).toString();
  process.stdout.write(out.replace(/^/gm, '  ').replace(/ +$/, ''));
  if (!out.endsWith('\n') && out.length > 0) process.stdout.write('\n');
  if (result.status !== expectCode) {
    process.stderr.write(`demo: \`egg ${show}\` exited ${result.status}, expected ${expectCode}\n`);
    process.exit(1);
  }
  return out;
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
    'Values come from stdin, so they never land in shell history. One is a multi-line PEM.',
  );
  egg(['secrets', 'set', 'STRIPE_KEY'], {
    input: 'sk_live_demo_4eC39HqLyjWDarjtT1zdp7dc',
    show: "secrets set STRIPE_KEY   <<< 'sk_live_demo_…'",
  });
  egg(['secrets', 'set', 'DATABASE_URL'], {
    input: 'postgres://app:p@ss w0rd$@db.internal:5432/app',
    show: "secrets set DATABASE_URL <<< 'postgres://app:…'",
  });
  egg(['secrets', 'set', 'TLS_CERT'], { input: cert, show: 'secrets set TLS_CERT     < cert.pem' });

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

  process.stdout.write(
    `\n${bold('Done.')} ${process.env.EGG_DEMO_KEEP ? `The demo vault is kept: export EGG_HOME=${home}` : 'The demo vault was deleted (EGG_DEMO_KEEP=1 keeps it).'} Next: node cli/bin/egg.js --help\n`,
  );
} finally {
  if (!process.env.EGG_DEMO_KEEP) rmSync(base, { recursive: true, force: true });
}
