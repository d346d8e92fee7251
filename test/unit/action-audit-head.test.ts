/**
 * The Action prints the audit head it saw (issue 9, item 14): the namespace, the seq and the
 * hash of the read record its pull appended, in the job's log and its summary. A trail
 * later cut below that record, or rewritten at it, then disagrees with the job's own log,
 * which the table's writers cannot edit. It costs no request: the pull's append returns it.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as runMain } from '../../src/action/main.js';
import type { Runner } from '../../src/action/runner.js';
import { openLocalBackend } from '../../src/backends/local.js';
import { Vault } from '../../src/vault/vault.js';

describe('the main step reports the audit head it saw', () => {
  let base: string;
  let home: string;

  beforeAll(async () => {
    base = mkdtempSync(join(tmpdir(), 'egg-action-head-'));
    home = join(base, 'home');
    mkdirSync(join(base, 'temp'));
    const { store, keyring } = openLocalBackend(home, { create: true });
    const vault = new Vault({ store, keyring, namespace: 'acme/web', actor: 'test' });
    await vault.set('TOKEN', Buffer.from('tok-123'));
    await vault.set('OTHER', Buffer.from('x'));
    keyring.close();
    await store.close();
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const trail = async () => {
    const { store, keyring } = openLocalBackend(home);
    try {
      return await new Vault({ store, keyring, namespace: 'acme/web', actor: 'test' }).auditTrail();
    } finally {
      keyring.close();
      await store.close();
    }
  };

  it('in its log and its summary: namespace, seq and hash of its own read record', async () => {
    const infos: string[] = [];
    const summaries: string[] = [];
    const failed: string[] = [];
    const runner: Runner = {
      getInput: (name) =>
        ({ backend: 'local', 'egg-home': home, namespace: 'acme/web', secrets: 'TOKEN' })[name] ?? '',
      getState: () => '',
      setSecret: () => undefined,
      exportVariable: () => undefined,
      setOutput: () => undefined,
      saveState: () => undefined,
      info: (message) => infos.push(message),
      warning: () => undefined,
      debug: () => undefined,
      isDebug: () => false,
      setFailed: (message) => failed.push(message),
      appendSummary: async (markdown) => {
        summaries.push(markdown);
      },
    };
    await runMain({ runner, env: { RUNNER_TEMP: join(base, 'temp') } });
    expect(failed).toEqual([]);
    const read = (await trail()).at(-1);
    expect(read).toMatchObject({ seq: 3, action: 'read', targets: ['TOKEN'] });
    const hash = read?.hash as string;
    expect(infos).toEqual([
      'Pulled 1 secret from acme/web: TOKEN. Data keys rotated: 1.',
      `Audit trail of acme/web: this job's read is record 3, hash ${hash.slice(0, 16)}.`,
    ]);
    expect(summaries).toHaveLength(1);
    expect(summaries[0]).toContain(
      `\nAudit trail: this job's read is record **3** of \`acme/web\`, hash \`${hash}\`. \`egg audit verify\` must find it there, unchanged; a trail shorter than that was cut.\n`,
    );
  });
});
