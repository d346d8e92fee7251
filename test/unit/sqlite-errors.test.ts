/**
 * SQLite's failures name the file and a way out, never a bare "database is locked"
 * (issue 12, item 6). Each error below is a real one from node:sqlite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { explainingErrors } from '../../src/stores/sqlite-errors.js';
import { SqliteStore } from '../../src/stores/sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'egg-sqlite-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite errors as the user sees them', () => {
  it('names the locked vault file and who may hold it, when another process keeps the write lock', () => {
    const path = join(dir, 'locked.db');
    const store = new SqliteStore(path, { busyTimeoutMs: 20 });
    const holder = new DatabaseSync(path);
    holder.exec('BEGIN EXCLUSIVE');
    try {
      expect(() => store.withWriteLock(() => 1)).toThrow(
        expect.objectContaining({
          code: 'ERR_STORE_UNAVAILABLE',
          message: `${path} stayed locked by another process for longer than egg waits`,
          hint: expect.stringContaining(`fuser -v ${path}`),
        }),
      );
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    expect(store.withWriteLock(() => 2)).toBe(2);
  });

  it('says a read-only vault cannot be written, and why', () => {
    const path = join(dir, 'readonly.db');
    const db = explainingErrors(new DatabaseSync(path), path);
    db.exec('CREATE TABLE t (x INTEGER)');
    db.exec('PRAGMA query_only = ON');
    expect(() => db.prepare('INSERT INTO t VALUES (1)').run()).toThrow(
      expect.objectContaining({
        code: 'ERR_STORE_UNAVAILABLE',
        message: `${path} cannot be written (SQLite reports "attempt to write a readonly database")`,
      }),
    );
    db.close();
  });

  it('says the disk is full and that nothing was written', () => {
    const path = join(dir, 'full.db');
    const db = explainingErrors(new DatabaseSync(path), path);
    db.exec('CREATE TABLE t (x BLOB)');
    const pages = (db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
    db.exec(`PRAGMA max_page_count = ${pages + 1}`);
    expect(() => db.prepare('INSERT INTO t VALUES (?)').run(Buffer.alloc(64 * 1024))).toThrow(
      expect.objectContaining({
        code: 'ERR_STORE_UNAVAILABLE',
        message: `the disk holding ${path} is full (SQLite reports "database or disk is full"); nothing was written`,
      }),
    );
    expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 0 });
    db.close();
  });

  it('leaves a constraint error as it is: the stores read it as a conflict', () => {
    const path = join(dir, 'constraint.db');
    const db = explainingErrors(new DatabaseSync(path), path);
    db.exec('CREATE TABLE t (x INTEGER PRIMARY KEY)');
    db.prepare('INSERT INTO t VALUES (1)').run();
    expect(() => db.prepare('INSERT INTO t VALUES (1)').run()).toThrow(
      expect.objectContaining({ code: 'ERR_SQLITE_ERROR', errstr: 'constraint failed' }),
    );
    db.close();
  });
});
