import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLocalBackend } from '../../src/backends/local.js';
import { Vault } from '../../src/vault/vault.js';

describe('Vault on the local backend', () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'egg-vault-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('sets, reads and rotates the data key after each read', async () => {
    const backend = openLocalBackend(join(home, 'h'), { create: true });
    const vault = new Vault({ ...backend, namespace: 'acme/web', actor: 'test' });
    await vault.set('API_KEY', Buffer.from('s3cr3t'));
    const first = await vault.get('API_KEY');
    expect(first.value.toString()).toBe('s3cr3t');
    expect(first.gen).toBe(1);
    const second = await vault.get('API_KEY');
    expect(second.gen).toBe(2);
    expect((await vault.list()).map((m) => [m.name, m.rev, m.gen])).toEqual([['API_KEY', 1, 3]]);
    expect(await vault.verifyAudit()).toMatchObject({ ok: true, records: 4 });
    await backend.store.close();
  });
});
