import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openLocalBackend } from '../../src/backends/local.js';
import { Vault } from '../../src/vault/vault.js';

const CHILD = fileURLToPath(new URL('../fixtures/crash-child.mjs', import.meta.url));

describe('a reader killed mid-rotation', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('leaves the secret readable with its value after SIGKILL between the read and the rotation write', async () => {
    dir = mkdtempSync(join(tmpdir(), 'egg-crash-'));
    const home = join(dir, 'home');
    const setup = openLocalBackend(home, { create: true });
    const vault = new Vault({ ...setup, namespace: 'acme/web', actor: 'test' });
    await vault.set('DB_URL', Buffer.from('postgres://crash-canary'));
    await setup.store.close();

    const child = spawn(process.execPath, [CHILD, home, 'DB_URL'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const reached = await new Promise<boolean>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('between-read-and-rotation')) resolve(true);
      });
      child.on('exit', () => resolve(false));
    });
    expect(stderr).toBe('');
    expect(reached).toBe(true);
    const exit = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    child.kill('SIGKILL');
    expect(await exit).toBe('SIGKILL');

    const after = openLocalBackend(home);
    const reader = new Vault({ ...after, namespace: 'acme/web', actor: 'test' });
    const secret = await reader.get('DB_URL');
    expect(secret.value.toString()).toBe('postgres://crash-canary');
    // The killed reader never wrote its rotation: this read saw generation 1 and rotated to 2.
    expect(secret.gen).toBe(1);
    expect((await reader.list())[0]).toMatchObject({ name: 'DB_URL', rev: 1, gen: 2 });
    expect(await reader.verifyAudit()).toMatchObject({ ok: true });
    await after.store.close();
  });
});
