/**
 * The bundled Action's `rotate-tokens` on the local backend, with a running proxy on the same
 * vault: the successor is masked, set as token-NAME and works at once; the old token works
 * through its grace and is refused after it (the proxy's clock is moved, nothing waits); the
 * post step leaves the successor alive. `npm run package` must have built dist/.
 */
import { symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openLocalSigner } from '../../src/backends/local.js';
import { openTokens } from '../../src/backends/open-backend.js';
import type { EggConfig } from '../../src/config.js';
import type { MintedToken, TokenListEntry } from '../../src/tokens/tokens.js';
import { commandData, newJob } from '../support/action-runner.js';
import { findLeaks } from '../support/cli.js';
import { APP_ORIGIN, KEY_NAME, NAMESPACE, useProxyRig } from '../support/proxy-harness.js';

const CANARY = 'sk-rotate-canary-9c2d41e7-DO-NOT-LEAK';

describe('the Action rotates shipped tokens (local backend, running proxy)', () => {
  // The proxy verifies with the vault's own signing key: the one `egg tokens` and the Action use.
  const rig = useProxyRig('sqlite', CANARY, {
    signer: (world) => openLocalSigner(dirname(world.vaultPath as string), true),
  });
  const { call, advance } = rig;
  let home: string;
  let config: EggConfig;

  beforeAll(async () => {
    home = dirname(rig.world.vaultPath as string);
    config = { backend: 'local', home, namespace: NAMESPACE, keyring: 'local', rotation: 'inline' };
    await rig.world.vault.set('PLAIN', Buffer.from(`plain-${CANARY}`));
  });

  /** A release's token, minted as `egg tokens mint` mints it. */
  const ship = async (release: string): Promise<MintedToken> => {
    const { tokens, close } = await openTokens(config, { actor: 'test' });
    try {
      return await tokens.mint({
        key: KEY_NAME,
        origins: [APP_ORIGIN],
        ttlSeconds: 7200,
        rps: 50,
        spend: 500,
        tags: { release },
      });
    } finally {
      await close();
    }
  };
  const listed = async (): Promise<TokenListEntry[]> => {
    const { tokens, close } = await openTokens(config, { actor: 'test' });
    try {
      return await tokens.list();
    } finally {
      await close();
    }
  };
  // Jobs live beside the vault's home, in the world's directory (removed with it).
  const inputs = (rotate: string, extra: Record<string, string> = {}) => ({
    backend: 'local',
    'egg-home': home,
    namespace: NAMESPACE,
    secrets: 'PLAIN',
    'export-env': 'false',
    'rotate-tokens': rotate,
    ...extra,
  });

  it('the successor is masked and works at once, the old token through the grace only, and the post step leaves the successor alive', async () => {
    const old = await ship('1.2');
    await rig.proxy.watcher.pollNow();
    expect(await call(old.token)).toBe(200);

    const job = newJob(dirname(home));
    const main = await job.main(inputs(`WEB_TOKEN=${old.id} grace=5m`));
    expect(main).toMatchObject({ code: 0, stderr: '' });
    const successor = main.outputs.get('token-WEB_TOKEN') as string;
    expect(successor).toMatch(/^egg_/);
    const newId = (await listed()).find((t) => t.tags.release === '1.2' && t.id !== old.id)?.id;
    expect(main.outputs.get('rotated-token-ids')).toBe(`${old.id}:${newId}`);

    // Masked before any line that is not a mask, and in no other line, file or summary.
    const lines = main.stdout.split('\n').filter((line) => line !== '');
    const firstOther = lines.findIndex((line) => !line.startsWith('::add-mask::'));
    expect(lines.slice(0, firstOther).map((line) => commandData(line, 'add-mask'))).toContain(successor);
    for (const text of [lines.slice(firstOther).join('\n'), main.summary, main.envFile])
      expect(text).not.toContain(successor);
    expect(lines).toContain(
      `Rotated token ${old.id} for WEB_TOKEN: successor ${newId}, expires ${(await listed()).find((t) => t.id === newId)?.expiresAt}, output token-WEB_TOKEN (not revoked by the post step); ${old.id} stops at ${(await listed()).find((t) => t.id === old.id)?.revokesAt}.`,
    );
    expect(main.summary).toContain(`| \`token-WEB_TOKEN\` | \`${old.id}\` |`);
    // Not recorded for the post step: it revokes only what mint-tokens minted.
    expect(JSON.parse(main.state.get('tokens') as string)).toEqual([]);

    await rig.proxy.watcher.pollNow();
    expect(await call(successor)).toBe(200);
    expect(await call(old.token)).toBe(200);

    const post = await job.post();
    expect(post).toMatchObject({ code: 0, stderr: '' });
    expect(post.stdout).toBe('No tokens were minted by this job; nothing to revoke.\n');
    const after = await listed();
    expect(after.find((t) => t.id === newId)).toMatchObject({ status: 'active', tags: { release: '1.2' } });
    expect(after.find((t) => t.id === newId)?.revokesAt).toBeUndefined();
    expect(after.find((t) => t.id === old.id)?.revokesAt).toBeDefined();

    await advance(240);
    expect(await call(old.token)).toBe(200);
    expect(await call(successor)).toBe(200);
    await advance(61);
    const before = rig.upstream.requests.length;
    expect(await call(old.token)).toBe(401);
    expect(rig.upstream.requests.length).toBe(before);
    expect(await call(successor)).toBe(200);

    for (const step of [main, post]) {
      const logged = step.stdout
        .split('\n')
        .filter((line) => !line.startsWith('::add-mask::'))
        .join('\n');
      for (const text of [logged, step.stderr, step.summary, step.outputFile, step.envFile])
        expect(findLeaks(text, CANARY)).toEqual([]);
    }
  });

  it('fails an unknown or revoked id before any rotation or output, naming the id', async () => {
    const live = await ship('1.3');
    const gone = await ship('1.3-old');
    {
      const { tokens, close } = await openTokens(config, { actor: 'test' });
      await tokens.revoke([gone.id]).finally(close);
    }
    const unknown = 'AAAAAAAAAAAAAAAAAAAAAA';
    const count = (await listed()).length;
    for (const [id, message] of [
      [unknown, `rotate-tokens B: no token ${unknown} was minted in ${NAMESPACE}`],
      [gone.id, `rotate-tokens B: token ${gone.id} is revoked, so there is nothing to rotate`],
    ] as const) {
      const main = await newJob(dirname(home)).main(inputs(`A=${live.id}\nB=${id}`));
      expect(main).toMatchObject({ code: 1, stderr: '' });
      expect(main.stdout.split('\n').filter((line) => line.startsWith('::error::'))).toEqual([
        `::error::${message}.%0ASee the active tokens with \`egg tokens list\`; no token was rotated.`,
      ]);
      expect(main.outputs).toEqual(new Map());
    }
    expect((await listed()).length).toBe(count);
    expect((await listed()).find((t) => t.id === live.id)?.revokesAt).toBeUndefined();
  });

  it('revokes the successors again when the step fails after rotating, before any output', async () => {
    const old = await ship('1.4');
    const job = newJob(dirname(home));
    // A planted symlink where the dotenv file goes: the write after the rotation is refused.
    const target = join(job.dir, 'elsewhere');
    writeFileSync(target, '');
    symlinkSync(target, join(job.temp, 'app.env'));
    const main = await job.main(inputs(`WEB_TOKEN=${old.id} grace=1h`, { 'dotenv-file': 'app.env' }));
    expect(main).toMatchObject({ code: 1, stderr: '' });
    expect(main.outputs).toEqual(new Map());
    const successor = (await listed()).find((t) => t.tags.release === '1.4' && t.id !== old.id);
    expect(successor?.status).toBe('revoked');
    expect(main.stdout).toContain(
      `::warning::The step failed after rotating 1 token(s): their successors (${successor?.id}) were revoked`,
    );
  });
});
