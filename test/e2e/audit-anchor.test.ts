/**
 * Anchored audit trails on the embedded default (issue 9, item 14), through the built CLI:
 * `egg rotate` and `egg audit checkpoint` sign checkpoints with `EGG_HOME/anchor-key`, and
 * `egg audit verify` refuses a trail cut below a checkpoint or recomputed from scratch.
 * The attacker here edits `vault.db` directly, as any tool running as the same user can.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/stores/store.js';
import { chainRecord } from '../../src/vault/audit.js';
import { egg } from '../support/cli.js';

const NS = 'acme/web';

interface Verdict {
  ok: boolean;
  records: number;
  head: string;
  checkpoints: number;
  anchor: { seq: number; hash: string; time: string; kid: string } | null;
  unanchored: number;
}

describe('anchored audit trails on the embedded default', () => {
  let base: string;
  let home: string;
  const run = (args: string[], input?: string) =>
    egg(args, {
      env: { EGG_HOME: home, EGG_NAMESPACE: NS },
      cwd: base,
      ...(input === undefined ? {} : { input }),
    });
  const verdict = () => {
    const result = run(['audit', 'verify', '--json']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    return JSON.parse(result.stdout) as Verdict;
  };

  /** The attacker: the same OS user with SQLite, who drops the append-only triggers first. */
  function tamper(change: (db: DatabaseSync) => void): void {
    const db = new DatabaseSync(join(home, 'vault.db'));
    try {
      db.exec('DROP TRIGGER IF EXISTS audit_no_delete; DROP TRIGGER IF EXISTS audit_no_update;');
      change(db);
    } finally {
      db.close();
    }
  }
  const deleteAfter = (seq: number) =>
    tamper((db) => db.prepare('DELETE FROM audit WHERE namespace = ? AND seq > ?').run(NS, seq));

  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'egg-anchor-'));
    home = join(base, 'home');
    expect(run(['init']).code).toBe(0);
    for (const name of ['API_KEY', 'DB_URL']) expect(run(['secrets', 'set', name], `v-${name}`).code).toBe(0);
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('egg rotate anchors the trail; verify says how far, and counts the newer records as unanchored', () => {
    const rotate = run(['rotate']);
    expect(rotate).toMatchObject({
      code: 0,
      stdout: 'Rotated 2 secrets in acme/web.\nAnchored the audit trail of acme/web at record 3.\n',
    });
    expect(run(['secrets', 'list']).code).toBe(0);
    const result = verdict();
    expect(result).toMatchObject({
      ok: true,
      records: 4,
      checkpoints: 1,
      anchor: { seq: 3, kid: expect.stringMatching(/^ed25519:/) },
      unanchored: 1,
    });
    expect(run(['audit', 'verify']).stdout).toBe(
      `Audit trail of acme/web verified: 4 records, head ${result.head.slice(0, 16)}…; anchored through record 3 by the checkpoint signed ${result.anchor?.time}; 1 record after it is unanchored.\n`,
    );
  });

  it('fails verify when the newest records are deleted below a checkpoint', () => {
    expect(run(['rotate']).code).toBe(0); // checkpoint at 3
    expect(run(['secrets', 'get', 'API_KEY']).code).toBe(0); // 4
    expect(run(['rotate']).code).toBe(0); // 5, checkpoint at 5
    const { anchor } = verdict();
    deleteAfter(4);
    const result = run(['audit', 'verify']);
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toBe(
      `Error: the audit trail of acme/web is broken at record 5: the trail ends at record 4, but a checkpoint signed ${anchor?.time} anchors record 5: records were removed from its end.\n`,
    );
  });

  it('fails verify at the checkpoint when the whole chain is recomputed', () => {
    expect(run(['rotate']).code).toBe(0); // checkpoint at 3
    expect(run(['secrets', 'get', 'API_KEY']).code).toBe(0);
    const { anchor } = verdict();
    // Rewrite every record (another actor) with a consistent, recomputed chain.
    tamper((db) => {
      const rows = db.prepare('SELECT * FROM audit WHERE namespace = ? ORDER BY seq').all(NS);
      db.prepare('DELETE FROM audit WHERE namespace = ?').run(NS);
      let head: AuditRecord | undefined;
      const insert = db.prepare(
        'INSERT INTO audit (namespace, seq, time, action, targets, actor, outcome, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      );
      for (const row of rows) {
        head = chainRecord(
          NS,
          head,
          {
            action: String(row.action),
            targets: JSON.parse(String(row.targets)) as string[],
            actor: 'user:someone-else',
            outcome: String(row.outcome),
          },
          new Date(String(row.time)),
        );
        insert.run(
          NS,
          head.seq,
          head.time,
          head.action,
          JSON.stringify(head.targets),
          head.actor,
          head.outcome,
          head.prev,
          head.hash,
        );
      }
    });
    const result = run(['audit', 'verify']);
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toBe(
      `Error: the audit trail of acme/web is broken at record 3: it differs from the record the checkpoint signed ${anchor?.time} anchors: the chain was rewritten.\n`,
    );
  });

  it('refuses a checkpoint signed by another key (a cut trail re-anchored by hand)', async () => {
    expect(run(['secrets', 'get', 'API_KEY']).code).toBe(0); // 3
    expect(run(['rotate']).code).toBe(0); // 4, checkpoint at 4
    expect(run(['secrets', 'get', 'DB_URL']).code).toBe(0); // 5
    expect(run(['rotate']).code).toBe(0); // 6, checkpoint at 6
    // Cut the trail to 3 and replace the checkpoints with one of the attacker's own key.
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const forger = {
      kid: async () => 'ed25519:forger',
      sign: async (data: Uint8Array) => (await import('node:crypto')).sign(null, data, privateKey),
      publicKey: async () => publicKey,
    };
    const rows = JSON.parse(run(['audit', '--json']).stdout) as AuditRecord[];
    const { signCheckpoint } = await import('../../src/vault/anchor.js');
    const forged = await signCheckpoint(rows[2] as AuditRecord, forger, new Date());
    deleteAfter(3);
    tamper((db) => {
      db.exec('DROP TRIGGER IF EXISTS audit_checkpoints_no_delete');
      db.prepare('DELETE FROM audit_checkpoints WHERE namespace = ?').run(NS);
      db.prepare(
        'INSERT INTO audit_checkpoints (namespace, seq, hash, time, kid, signature) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(NS, forged.seq, forged.hash, forged.time, forged.kid, forged.signature);
    });
    const result = run(['audit', 'verify']);
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toMatch(
      /^Error: the audit trail of acme\/web is broken at record 3: its checkpoint is not signed by the anchor key ed25519:[\w-]+ \(it names ed25519:forger\): it was forged, or the anchor key was replaced\.\n$/,
    );
  });

  it('says "no checkpoint: nothing anchored" for a trail never anchored, and --max-unanchored fails it', () => {
    expect(verdict()).toMatchObject({ ok: true, records: 2, checkpoints: 0, anchor: null, unanchored: 2 });
    const plain = run(['audit', 'verify']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(
      /^Audit trail of acme\/web: no checkpoint: nothing anchored\. Its 2 records link up to head [0-9a-f]{16}…, but a trail cut at its end or recomputed from scratch would look the same\.\n$/,
    );
    const strict = run(['audit', 'verify', '--max-unanchored', '1']);
    expect(strict).toMatchObject({
      code: 1,
      stdout: '',
      stderr:
        'Error: the audit trail of acme/web has no checkpoint, so its 2 records are unanchored, more than --max-unanchored 1 allows (anchor it with `egg rotate` or `egg audit checkpoint`, or check that the rotator runs).\n',
    });
    expect(run(['audit', 'verify', '--max-unanchored', '2']).code).toBe(0);
  });

  it('egg audit checkpoint anchors the head now, once', () => {
    const first = run(['audit', 'checkpoint', '--json']);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ namespace: NS, seq: 2, created: true });
    const again = run(['audit', 'checkpoint']);
    expect(again).toMatchObject({
      code: 0,
      stdout: 'The audit trail of acme/web is already anchored at its head, record 2.\n',
    });
    expect(verdict()).toMatchObject({ anchor: { seq: 2 }, unanchored: 0 });
  });

  it('never makes a new anchor key over a trail that has checkpoints', () => {
    expect(run(['rotate']).code).toBe(0); // checkpoint at 3
    rmSync(join(home, 'anchor-key'));
    const result = run(['rotate']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `Error: there is no audit anchor key at ${join(home, 'anchor-key')} (restore it from your backup of EGG_HOME: without it the checkpoints cannot be checked).\n`,
    );
    expect(existsSync(join(home, 'anchor-key'))).toBe(false);
  });

  it('refuses to anchor a trail rewritten since its last checkpoint', () => {
    expect(run(['audit', 'checkpoint']).code).toBe(0); // at 2
    expect(run(['secrets', 'list']).code).toBe(0); // 3
    expect(run(['secrets', 'list']).code).toBe(0); // 4
    tamper((db) => db.prepare("UPDATE audit SET actor = 'user:x' WHERE namespace = ? AND seq = 3").run(NS));
    const result = run(['audit', 'checkpoint']);
    expect(result).toMatchObject({
      code: 1,
      stdout: '',
      stderr:
        'Error: refusing to anchor the audit trail of acme/web: record 3 was altered (run `egg audit verify`, and find out who changed the trail before anchoring it).\n',
    });
  });
});
