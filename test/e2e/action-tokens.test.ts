/**
 * The bundled Action's `mint-tokens` on the local backend, run as the runner runs it: main
 * mints tokens tagged with the run, masks them before setting them as outputs and records
 * their ids; post revokes them through the same vault. `npm run package` must have built dist/.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EggConfig } from '../../src/config.js';
import { openLocalBackend } from '../../src/backends/local.js';
import { openLocalSigner } from '../../src/backends/local.js';
import { openTokens } from '../../src/backends/open-backend.js';
import { formatPrice, parsePrice } from '../../src/tokens/price.js';
import { SqliteTokenStore } from '../../src/tokens/sqlite-token-store.js';
import { emptyCounts, windowOf } from '../../src/tokens/usage-store.js';
import { TokenVerifier } from '../../src/tokens/verifier.js';
import { Vault } from '../../src/vault/vault.js';
import { commandData, newJob, type StepResult } from '../support/action-runner.js';
import { findLeaks } from '../support/cli.js';

const CANARY = 'sk-action-canary-5e1f0a3b-DO-NOT-LEAK';
const NAMESPACE = 'acme/web';

describe('the Action mints tokens (local backend)', () => {
  let base: string;
  let home: string;
  let config: EggConfig;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'egg-action-tokens-'));
    home = join(base, 'home');
    config = { backend: 'local', home, namespace: NAMESPACE, keyring: 'local', rotation: 'inline' };
    const { store, keyring } = openLocalBackend(home, { create: true });
    const vault = new Vault({ store, keyring, namespace: NAMESPACE, actor: 'test' });
    await vault.set('OPENAI_KEY', Buffer.from(CANARY), { upstream: 'https://api.openai.example' });
    await vault.set('OTHER_KEY', Buffer.from(`other-${CANARY}`), { upstream: 'https://api.other.example' });
    await vault.set('PLAIN', Buffer.from(`plain-${CANARY}`));
    // A priced key (docs/spend.md): its tokens' caps and spend are micro-units of the price's unit.
    await vault.set('PRICED_KEY', Buffer.from(`priced-${CANARY}`), {
      upstream: 'https://api.priced.example',
      price: formatPrice(parsePrice('input=2.5,output=10')),
    });
    keyring.close();
    await store.close();
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const inputs = (mint: string, extra: Record<string, string> = {}) => ({
    backend: 'local',
    'egg-home': home,
    namespace: NAMESPACE,
    secrets: 'PLAIN',
    'export-env': 'false',
    'mint-tokens': mint,
    ...extra,
  });

  const listed = async () => {
    const { tokens, close } = await openTokens(config, { actor: 'test' });
    try {
      return await tokens.list();
    } finally {
      await close();
    }
  };

  /** The pulled secret's value is masked (its ::add-mask:: lines); anywhere else it is a leak. */
  const noLeaks = (...steps: StepResult[]) => {
    for (const step of steps) {
      const logged = step.stdout
        .split('\n')
        .filter((line) => !line.startsWith('::add-mask::'))
        .join('\n');
      for (const text of [logged, step.stderr, step.summary, step.outputFile, step.envFile]) {
        expect(findLeaks(text, CANARY)).toEqual([]);
      }
    }
  };

  it('mints masked, tagged, verifiable tokens as outputs; the post step revokes them', async () => {
    const job = newJob(base);
    const main = await job.main(
      inputs(
        [
          'OPENAI_KEY origins=https://app.example.com,http://localhost:5173 ttl=30m rps=5 burst=10 spend=1000',
          '# a comment',
          'OTHER_KEY origins=https://other.example.com ttl=2h rps=1 spend=50 cost=5',
        ].join('\n'),
      ),
    );
    expect(main.stderr).toBe('');
    expect(main.code).toBe(0);

    const openai = main.outputs.get('token-OPENAI_KEY') as string;
    const other = main.outputs.get('token-OTHER_KEY') as string;
    expect(openai).toMatch(/^egg_/);
    expect(other).toMatch(/^egg_/);

    // Masked: an ::add-mask:: for each token, before any line that is not a mask.
    const lines = main.stdout.split('\n').filter((line) => line !== '');
    const firstOther = lines.findIndex((line) => !line.startsWith('::add-mask::'));
    const masks = lines.slice(0, firstOther).map((line) => commandData(line, 'add-mask'));
    expect(masks).toContain(openai);
    expect(masks).toContain(other);
    for (const line of lines.slice(firstOther)) {
      expect(line).not.toContain(openai);
      expect(line).not.toContain(other);
    }

    // The tokens verify with the vault's signing key and carry the run's tags and the caps.
    const signer = openLocalSigner(config.home, false);
    const verifier = new TokenVerifier({ publicKey: await signer.publicKey() });
    signer.close();
    const a = await verifier.verify(openai);
    const b = await verifier.verify(other);
    if (!a.ok || !b.ok) throw new Error('a minted token did not verify');
    const tags = { run: '4242', attempt: '1', repo: 'acme/web' };
    expect(a.claims).toMatchObject({
      sub: NAMESPACE,
      key: 'OPENAI_KEY',
      origins: ['https://app.example.com', 'http://localhost:5173'],
      rps: 5,
      burst: 10,
      spend: 1000,
      cost: 1,
      tags,
    });
    expect(a.claims.exp - a.claims.iat).toBe(1800);
    expect(b.claims).toMatchObject({ key: 'OTHER_KEY', rps: 1, burst: 1, spend: 50, cost: 5, tags });
    expect(b.claims.exp - b.claims.iat).toBe(7200);

    // The ids: in the state for the post step, and as the public output token-ids.
    const ids = [a.claims.jti, b.claims.jti];
    expect(JSON.parse(main.state.get('tokens') as string)).toEqual(ids);
    expect(JSON.parse(main.state.get('token-vault') as string)).toEqual({
      backend: 'local',
      home,
      namespace: NAMESPACE,
    });
    expect(main.outputs.get('token-ids')).toBe(ids.join(','));
    expect(lines.slice(firstOther)).toContain(
      `Minted a token for OPENAI_KEY: id ${ids[0]}, expires ${new Date(a.claims.exp * 1000).toISOString()}, output token-OPENAI_KEY.`,
    );
    expect(main.summary).toContain(`| \`OPENAI_KEY\` | \`token-OPENAI_KEY\` | \`${ids[0]}\` |`);
    const before = await listed();
    expect(before.filter((t) => ids.includes(t.id)).map((t) => t.status)).toEqual(['active', 'active']);

    const post = await job.post();
    expect(post).toMatchObject({ code: 0, stderr: '' });
    expect(post.stdout).toBe('Revoked 2 tokens minted by this job in acme/web.\n');
    const after = await listed();
    const revoked = after.filter((t) => ids.includes(t.id));
    expect(revoked.map((t) => t.id).sort()).toEqual([...ids].sort());
    for (const t of revoked) expect(t).toMatchObject({ status: 'revoked', tags });

    // Canary: the provider keys are in no output, log, summary or state.
    noLeaks(main, post);
    expect(findLeaks([...main.state.values()].join('\n'), CANARY)).toEqual([]);
  });

  it('writes the usage of the tokens it minted to the job summary, read before the post step revokes them', async () => {
    const job = newJob(base);
    const main = await job.main(
      inputs(
        [
          'OPENAI_KEY origins=https://app.example.com rps=5 spend=1000',
          'OTHER_KEY origins=https://other.example.com rps=1 spend=50 cost=5',
        ].join('\n'),
      ),
    );
    expect(main).toMatchObject({ code: 0, stderr: '' });
    const [a, b] = JSON.parse(main.state.get('tokens') as string) as [string, string];
    // What a proxy would have written: counters, spend reserved on the record, a throttle.
    const store = new SqliteTokenStore(join(home, 'vault.db'));
    const now = Math.floor(Date.now() / 1000);
    try {
      await store.addUsage([
        {
          namespace: NAMESPACE,
          id: a,
          window: windowOf(now),
          ...emptyCounts(),
          requests: 12,
          clientErrors: 3,
          serverErrors: 1,
          refusedOrigin: 2,
          rateLimited: 1,
          throttled: 2,
          spend: 8,
        },
        { namespace: NAMESPACE, id: b, window: windowOf(now), ...emptyCounts(), invalidToken: 4 },
      ]);
      const digest = (await store.listTokens(NAMESPACE)).find((t) => t.id === a)!.digest;
      expect(await store.reserveSpend(NAMESPACE, a, digest, 8, 1000)).toEqual({ ok: true });
      expect(
        await store.setThrottle(NAMESPACE, a, { rule: 'rate-spike', rps: 1, since: now, until: now + 900 }),
      ).toBe(true);
    } finally {
      await store.close();
    }

    const post = await job.post();
    expect(post).toMatchObject({
      code: 0,
      stderr: '',
      stdout: 'Revoked 2 tokens minted by this job in acme/web.\n',
    });
    const at = /up to (\S+), before/.exec(post.summary)?.[1];
    expect(post.summary).toBe(
      [
        '### Token usage in `acme/web`',
        '',
        `As counted by the proxies up to ${at}, before the post step revoked the tokens.`,
        '',
        '| Token id | Key | Requests | 4xx | 5xx | Spend / cap | Refused origins | Invalid-token attempts | Rate-limited or throttled |',
        '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
        `| \`${a}\` | \`OPENAI_KEY\` | 12 | 3 | 1 | 8 / 1000 | 2 | 0 | 3 (throttled: rate-spike) |`,
        `| \`${b}\` | \`OTHER_KEY\` | 0 | 0 | 0 | 0 / 50 | 0 | 4 | 0 |`,
        '',
      ].join('\n'),
    );
    expect(Date.parse(at!)).toBeGreaterThanOrEqual(now * 1000);
    expect((await listed()).filter((t) => t.id === a || t.id === b).map((t) => t.status)).toEqual([
      'revoked',
      'revoked',
    ]);
    for (const token of [main.outputs.get('token-OPENAI_KEY'), main.outputs.get('token-OTHER_KEY')])
      expect(post.summary).not.toContain(token);
    noLeaks(main, post);
  });

  it('shows a priced key’s spend in the job summary in units, as `egg tokens list` does', async () => {
    const job = newJob(base);
    const main = await job.main(inputs('PRICED_KEY origins=https://app.example.com rps=5 spend=12000000'));
    expect(main).toMatchObject({ code: 0, stderr: '' });
    const [id] = JSON.parse(main.state.get('tokens') as string) as [string];
    const store = new SqliteTokenStore(join(home, 'vault.db'));
    try {
      const digest = (await store.listTokens(NAMESPACE)).find((t) => t.id === id)!.digest;
      expect(await store.reserveSpend(NAMESPACE, id, digest, 2_500_000, 12_000_000)).toEqual({ ok: true });
    } finally {
      await store.close();
    }
    const post = await job.post();
    expect(post).toMatchObject({ code: 0, stderr: '' });
    expect(post.summary).toContain(`| \`${id}\` | \`PRICED_KEY\` | 0 | 0 | 0 | 2.5 / 12 units | 0 | 0 | 0 |`);
    expect(post.summary).not.toContain('2500000');
    noLeaks(main, post);
  });

  it('passes max-clients and client-rps to the tokens it mints', async () => {
    const job = newJob(base);
    const main = await job.main(
      inputs('OPENAI_KEY allow-no-origin=true rps=5 spend=10 max-clients=3 client-rps=2'),
    );
    expect(main).toMatchObject({ code: 0, stderr: '' });
    const signer = openLocalSigner(config.home, false);
    const verifier = new TokenVerifier({ publicKey: await signer.publicKey() });
    signer.close();
    const verified = await verifier.verify(main.outputs.get('token-OPENAI_KEY') as string);
    expect(verified).toMatchObject({ ok: true, claims: { maxClients: 3, clientRps: 2 } });
    const [id] = JSON.parse(main.state.get('tokens') as string) as [string];
    expect((await listed()).find((t) => t.id === id)).toMatchObject({ maxClients: 3, clientRps: 2 });
    expect((await job.post()).code).toBe(0);
  });

  it('takes a JSON list', async () => {
    const job = newJob(base);
    const main = await job.main(
      inputs(
        JSON.stringify([
          { key: 'OPENAI_KEY', origins: ['https://app.example.com'], ttl: 90, rps: 2, spend: 10 },
        ]),
      ),
    );
    expect(main).toMatchObject({ code: 0, stderr: '' });
    const id = JSON.parse(main.state.get('tokens') as string)[0] as string;
    expect(main.outputs.get('token-ids')).toBe(id);
    const post = await job.post();
    expect(post.stdout).toBe('Revoked 1 token minted by this job in acme/web.\n');
    expect((await listed()).find((t) => t.id === id)?.status).toBe('revoked');
  });

  it('fails a bad spec naming the input, before touching the vault', async () => {
    const job = newJob(base);
    const main = await job.main(inputs('OPENAI_KEY origins=https://app.example.com ttl=7h rps=5 spend=10'));
    expect(main).toMatchObject({ code: 1, stderr: '' });
    expect(main.stdout).toBe(
      '::error::input "mint-tokens" token 1 (OPENAI_KEY) has ttl "7h"; it takes a lifetime from 1s to 6h (no longer than a job may run), e.g. ttl=90s, ttl=30m, ttl=2h.\n',
    );
    expect(main.state).toEqual(new Map());
    const missing = await newJob(base).main(inputs('OPENAI_KEY ttl=1h rps=5 spend=10'));
    expect(missing.stdout).toMatch(
      /^::error::input "mint-tokens" token 1 \(OPENAI_KEY\) needs origins; it takes/,
    );
  });

  it('refuses mint-tokens with backend aws without signing-key-id, before any request', async () => {
    const main = await newJob(base).main({
      backend: 'aws',
      'role-to-assume': 'arn:aws:iam::123456789012:role/egg-ci',
      'aws-region': 'eu-west-1',
      'mint-tokens': 'OPENAI_KEY origins=https://app.example.com rps=5 spend=10',
    });
    expect(main).toMatchObject({ code: 1, stderr: '' });
    expect(main.stdout).toBe(
      '::error::input "signing-key-id" is required with backend "aws" when mint-tokens is set; it takes the KMS key that signs the tokens (key spec ECC_NIST_EDWARDS25519, usage SIGN_VERIFY): a key id, key ARN, alias name or alias ARN.\n',
    );
    expect(main.state).toEqual(new Map());
  });

  it("fails with the library's message for a key without an upstream, and revokes what was minted", async () => {
    const job = newJob(base);
    const main = await job.main(
      inputs(
        [
          'OPENAI_KEY origins=https://app.example.com rps=5 spend=10',
          'PLAIN origins=https://app.example.com rps=5 spend=10',
        ].join('\n'),
      ),
    );
    expect(main).toMatchObject({ code: 1, stderr: '' });
    const errors = main.stdout.split('\n').filter((line) => line.startsWith('::error::'));
    expect(errors).toEqual([
      '::error::PLAIN has no pinned upstream, so no token can be minted for it.%0ASet it again with its provider origin: egg secrets set PLAIN --upstream https://api.example.com.',
    ]);
    // The first token was minted and recorded, but no output carries it.
    const ids = JSON.parse(main.state.get('tokens') as string) as string[];
    expect(ids).toHaveLength(1);
    expect(main.outputs).toEqual(new Map());
    const post = await job.post();
    expect(post).toMatchObject({ code: 0, stdout: 'Revoked 1 token minted by this job in acme/web.\n' });
    expect((await listed()).find((t) => t.id === ids[0])?.status).toBe('revoked');
    noLeaks(main, post);
  });
});
