/**
 * The bundled Action on the local backend, run as the runner runs it (main, then post, as
 * child processes with INPUT_* variables and the file commands). `npm run package` must
 * have built dist/; check-dist keeps it current.
 */
import { lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalBackend } from '../../src/open.js';
import { Vault } from '../../src/vault/vault.js';
import { commandData, newJob } from '../support/action-runner.js';
import { findLeaks } from '../support/cli.js';

const CANARY = 'egg-canary-7f3a9c1e-DO-NOT-LEAK';
const NAMESPACE = 'acme/web';
const SECRETS: Record<string, string> = {
  API_KEY: CANARY,
  TLS_KEY: `-----BEGIN PRIVATE KEY-----\n${CANARY}-line2\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----`,
  DB_URL: `postgres://app:${CANARY}&"\\x@db:5432/app?ssl=true`,
  UNUSED: `unused-${CANARY}`,
};

/** What the runner must be told to mask for `value` with the default encodings. */
function expectedMasks(value: string): string[] {
  const lines = value.split('\n');
  return [
    value,
    ...(lines.length > 1 ? lines : []),
    Buffer.from(value).toString('base64'),
    encodeURIComponent(value),
    JSON.stringify(value).slice(1, -1),
  ];
}

/** The namespace's newest audit record: the read this job appended. */
async function auditHead(home: string) {
  const { store, keyring } = openLocalBackend(home, false);
  try {
    return (await store.readAudit(NAMESPACE)).at(-1);
  } finally {
    keyring.close();
    await store.close();
  }
}

async function gens(home: string): Promise<Record<string, number>> {
  const { store, keyring } = openLocalBackend(home, false);
  try {
    const items = await store.getSecrets(NAMESPACE);
    return Object.fromEntries(items.map((item) => [item.name, item.gen]));
  } finally {
    keyring.close();
    await store.close();
  }
}

describe('the Action on the local backend', () => {
  let base: string;
  let home: string;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'egg-action-'));
    home = join(base, 'home');
    const { store, keyring } = openLocalBackend(home, true);
    const vault = new Vault({ store, keyring, namespace: NAMESPACE, actor: 'test' });
    for (const [name, value] of Object.entries(SECRETS)) await vault.set(name, Buffer.from(value));
    keyring.close();
    await store.close();
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const inputs = (extra: Record<string, string> = {}) => ({
    backend: 'local',
    'egg-home': home,
    namespace: NAMESPACE,
    ...extra,
  });

  it('masks, exports, writes the dotenv file, rotates, and the post step deletes the file', async () => {
    const job = newJob(base);
    const before = await gens(home);
    const main = await job.main(
      inputs({ secrets: 'API_KEY\nTLS=TLS_KEY\nDB_URL', outputs: 'true', 'dotenv-file': 'app.env' }),
    );
    expect(main.stderr).toBe('');
    expect(main.code).toBe(0);

    // Every mask first: the value, each line, base64, URL-encoded, JSON-escaped.
    const lines = main.stdout.split('\n').filter((line) => line !== '');
    const firstOther = lines.findIndex((line) => !line.startsWith('::add-mask::'));
    const masks = lines.slice(0, firstOther).map((line) => commandData(line, 'add-mask'));
    const wanted = [SECRETS.API_KEY, SECRETS.TLS_KEY, SECRETS.DB_URL].flatMap((v) =>
      expectedMasks(v as string),
    );
    expect(new Set(masks)).toEqual(new Set(wanted));
    expect(masks).toHaveLength(new Set(wanted).size);
    expect(lines.slice(firstOther).filter((line) => line.startsWith('::add-mask::'))).toEqual([]);
    const head = await auditHead(home);
    expect(head).toMatchObject({ action: 'read', targets: ['API_KEY', 'DB_URL', 'TLS_KEY'] });
    expect(lines.slice(firstOther)).toEqual([
      'Pulled 3 secrets from acme/web: API_KEY, TLS, DB_URL. Data keys rotated: 3.',
      `Audit trail of acme/web: this job's read is record ${head?.seq}, hash ${head?.hash.slice(0, 16)}.`,
    ]);

    // The environment later steps get, in the runner's heredoc form.
    expect(main.env).toEqual(
      new Map([
        ['API_KEY', SECRETS.API_KEY],
        ['TLS', SECRETS.TLS_KEY],
        ['DB_URL', SECRETS.DB_URL],
      ]),
    );
    expect(main.envFile).toMatch(/^API_KEY<<ghadelimiter_[0-9a-f-]{36}\n/);
    const dotenvPath = join(job.temp, 'app.env');
    expect(main.outputs).toEqual(
      new Map([
        ['API_KEY', SECRETS.API_KEY],
        ['TLS', SECRETS.TLS_KEY],
        ['DB_URL', SECRETS.DB_URL],
        ['dotenv-path', dotenvPath],
        ['secret-names', 'API_KEY,TLS,DB_URL'],
      ]),
    );
    expect(main.state).toEqual(
      new Map([
        ['tokens', '[]'],
        ['files', JSON.stringify([dotenvPath])],
      ]),
    );

    // The dotenv file: 0600, read back exactly by the dotenv parser.
    expect(lstatSync(dotenvPath).mode & 0o777).toBe(0o600);
    expect(parseDotenv(readFileSync(dotenvPath))).toEqual({
      API_KEY: SECRETS.API_KEY,
      TLS: SECRETS.TLS_KEY,
      DB_URL: SECRETS.DB_URL,
    });

    // Rotation: each secret read has a new data key generation; the one not read does not.
    const after = await gens(home);
    expect(after).toEqual({
      API_KEY: (before.API_KEY as number) + 1,
      TLS_KEY: (before.TLS_KEY as number) + 1,
      DB_URL: (before.DB_URL as number) + 1,
      UNUSED: before.UNUSED,
    });

    expect(main.summary).toBe(
      [
        '### Egg Carton',
        '',
        'Pulled **3** secrets from `acme/web` (local backend) into environment, step outputs, dotenv file `app.env`.',
        'Data keys rotated: 3; skipped 0, failed 0, deferred 0.',
        '',
        '| Secret | Exported as |',
        '| --- | --- |',
        '| `API_KEY` | `API_KEY` |',
        '| `TLS_KEY` | `TLS` |',
        '| `DB_URL` | `DB_URL` |',
        '',
        `Audit trail: this job's read is record **${head?.seq}** of \`acme/web\`, hash \`${head?.hash}\`. \`egg audit verify\` must find it there, unchanged; a trail shorter than that was cut.`,
        '',
        '',
      ].join('\n'),
    );

    const post = await job.post();
    expect(post).toMatchObject({ code: 0, stderr: '' });
    expect(post.stdout).toBe(
      `No tokens were minted by this job; nothing to revoke.\nDeleted ${dotenvPath}.\n`,
    );
    expect(() => lstatSync(dotenvPath)).toThrow(expect.objectContaining({ code: 'ENOENT' }));

    // The canary is in no output line but the masks: not in logs, summaries or stderr.
    for (const text of [
      lines.slice(firstOther).join('\n'),
      main.stderr,
      main.summary,
      post.stdout,
      post.stderr,
    ]) {
      expect(findLeaks(text, CANARY)).toEqual([]);
    }

    // A second post step (a re-run) finds the file gone and says so.
    const again = await job.post();
    expect(again).toMatchObject({ code: 0, stderr: '' });
    expect(again.stdout).toBe(
      `No tokens were minted by this job; nothing to revoke.\nSkipped ${dotenvPath}: already gone.\n`,
    );
  });

  it('exports every secret in the namespace for "*"', async () => {
    const main = await newJob(base).main(inputs({ 'mask-encodings': 'none' }));
    expect(main).toMatchObject({ code: 0, stderr: '' });
    expect(main.env).toEqual(new Map(Object.entries(SECRETS).sort(([a], [b]) => (a < b ? -1 : 1))));
    expect(main.outputs).toEqual(new Map([['secret-names', 'API_KEY,DB_URL,TLS_KEY,UNUSED']]));
    const masks = main.stdout.split('\n').filter((line) => line.startsWith('::add-mask::'));
    expect(masks).toHaveLength(4 + 4); // each value, and each of the 4 lines of TLS_KEY
  });

  it('fails listing the missing secrets, exporting nothing', async () => {
    const job = newJob(base);
    const main = await job.main(inputs({ secrets: 'API_KEY\nNOPE\nALSO_MISSING', 'dotenv-file': 'app.env' }));
    expect(main.code).toBe(1);
    expect(main.stderr).toBe('');
    expect(main.stdout).toBe(
      '::error::secrets not found in acme/web: NOPE, ALSO_MISSING.%0ASee what exists with `egg secrets list`.\n',
    );
    expect(main.env).toEqual(new Map());
    expect(main.outputs).toEqual(new Map());
    expect(main.state).toEqual(new Map([['tokens', '[]']]));

    const post = await job.post();
    expect(post).toMatchObject({
      code: 0,
      stdout: 'No tokens were minted by this job; nothing to revoke.\n',
    });
  });

  it('refuses a bad input naming it, before touching the vault', async () => {
    const job = newJob(base);
    const main = await job.main(inputs({ 'export-env': 'yes' }));
    expect(main).toMatchObject({
      code: 1,
      stderr: '',
      stdout: '::error::input "export-env" is "yes"; it takes "true" or "false".\n',
    });
    const post = await job.post();
    expect(post).toMatchObject({
      code: 0,
      stdout: 'The main step recorded nothing (it failed before writing anything); nothing to clean up.\n',
    });
  });

  it('never writes the dotenv file through a symlink, and exports nothing then', async () => {
    const job = newJob(base);
    const target = join(base, 'elsewhere.txt');
    writeFileSync(target, 'untouched');
    symlinkSync(target, join(job.temp, 'app.env'));
    const main = await job.main(inputs({ secrets: 'API_KEY', 'dotenv-file': 'app.env' }));
    expect(main.code).toBe(1);
    expect(main.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::'))).toEqual([
      `::error::${join(job.temp, 'app.env')} is a symlink; refusing to write secrets through it.%0ARemove it, or choose another dotenv-file name.`,
      '',
    ]);
    expect(readFileSync(target, 'utf8')).toBe('untouched');
    expect(main.env).toEqual(new Map());

    // The post step removes the link it was told about, not the file it points to.
    const post = await job.post();
    expect(post.code).toBe(0);
    expect(post.stdout).toContain(`Deleted ${join(job.temp, 'app.env')} (it was not a regular file).`);
    expect(readFileSync(target, 'utf8')).toBe('untouched');
  });

  it('refuses to replace a runner variable with a secret', async () => {
    const { store, keyring } = openLocalBackend(home, false);
    const vault = new Vault({ store, keyring, namespace: 'acme/ci', actor: 'test' });
    await vault.set('GITHUB_TOKEN', Buffer.from(`ghp_${CANARY}`));
    keyring.close();
    await store.close();
    const main = await newJob(base).main(inputs({ namespace: 'acme/ci' }));
    expect(main.code).toBe(1);
    expect(main.stdout).toBe(
      "::error::secret GITHUB_TOKEN would replace the runner's GITHUB_TOKEN variable; refusing to export it.%0AExport it under another name with a line like `MY_GITHUB_TOKEN=GITHUB_TOKEN` in the secrets input.\n",
    );
    expect(main.env).toEqual(new Map());
    const renamed = await newJob(base).main(inputs({ namespace: 'acme/ci', secrets: 'GH_PAT=GITHUB_TOKEN' }));
    expect(renamed.code).toBe(0);
    expect(renamed.env).toEqual(new Map([['GH_PAT', `ghp_${CANARY}`]]));
  });

  it('says there is no vault when egg-home is empty', async () => {
    const main = await newJob(base).main(inputs({ 'egg-home': join(base, 'nowhere') }));
    expect(main.code).toBe(1);
    expect(main.stdout).toBe(
      `::error::there is no vault at ${join(base, 'nowhere')}.%0ARun \`egg init\` (or \`egg secrets set NAME\`) to create one, or set EGG_HOME.\n`,
    );
  });
});
