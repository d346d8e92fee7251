import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLocalBackend } from '../../src/backends/local.js';
import { isSendableProviderKey, providerKeyProblem } from '../../src/vault/provider-key.js';
import { Vault } from '../../src/vault/vault.js';

const WHITESPACE = 'starts or ends with whitespace (the newline that echo or <<< adds is stored too)';
const UNSENDABLE =
  'holds a character a header cannot carry (a space, a control character, or a non-ASCII byte)';

describe('provider key values', () => {
  const cases: [string, Buffer, string | undefined][] = [
    ['a key', Buffer.from('sk-proj-AbC_123.x~y'), undefined],
    [
      'every visible ASCII character',
      Buffer.from(String.fromCharCode(...Array.from({ length: 94 }, (_, i) => 33 + i))),
      undefined,
    ],
    ['empty', Buffer.alloc(0), 'is empty'],
    ['the newline <<< adds', Buffer.from('sk-abc\n'), WHITESPACE],
    ['CRLF', Buffer.from('sk-abc\r\n'), WHITESPACE],
    ['a leading space', Buffer.from(' sk-abc'), WHITESPACE],
    ['a trailing tab', Buffer.from('sk-abc\t'), WHITESPACE],
    ['only a newline', Buffer.from('\n'), WHITESPACE],
    ['a space inside', Buffer.from('sk abc'), UNSENDABLE],
    ['a newline inside (header injection)', Buffer.from('sk\r\nx-evil: 1'), UNSENDABLE],
    ['a NUL', Buffer.from('sk\0abc'), UNSENDABLE],
    ['DEL', Buffer.from('sk\x7fabc'), UNSENDABLE],
    ['non-ASCII', Buffer.from('sk-é'), UNSENDABLE],
  ];
  for (const [name, value, problem] of cases) {
    it(`${problem === undefined ? 'accepts' : 'refuses'} ${name}`, () => {
      expect(providerKeyProblem(value)).toBe(problem);
      expect(isSendableProviderKey(value.toString('latin1'))).toBe(problem === undefined);
    });
  }
});

describe('the vault refuses a provider key it could not send', () => {
  let home: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'egg-provider-key-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  it('refuses an empty or whitespace-wrapped value given with an upstream, or set later on a key that has one', async () => {
    const backend = openLocalBackend(join(home, 'h'), { create: true });
    try {
      const vault = new Vault({ ...backend, namespace: 'acme/web', actor: 'test' });
      const upstream = { upstream: 'https://api.openai.com' };
      await expect(vault.set('OPENAI_KEY', Buffer.from('sk-abc\n'), upstream)).rejects.toMatchObject({
        code: 'ERR_INVALID_VALUE',
        message: `OPENAI_KEY is a provider key, sent as it is in a header, and its value ${WHITESPACE}; nothing was stored`,
        hint: 'store the key exactly, with no newline: egg secrets set OPENAI_KEY --upstream … and type it at the prompt, or add --from-env VAR',
      });
      await expect(vault.set('OPENAI_KEY', Buffer.alloc(0), upstream)).rejects.toMatchObject({
        code: 'ERR_INVALID_VALUE',
      });
      expect(await vault.list()).toEqual([]);
      await vault.set('OPENAI_KEY', Buffer.from('sk-abc'), upstream);
      // Set again without --upstream: it keeps its upstream, so the rule still holds.
      await expect(vault.set('OPENAI_KEY', Buffer.from(' sk-new'))).rejects.toMatchObject({
        code: 'ERR_INVALID_VALUE',
      });
      expect((await vault.get('OPENAI_KEY')).value.toString()).toBe('sk-abc');
      // A secret with no upstream is bytes, whatever they are.
      await vault.set('MOTD', Buffer.from(' hello\n'));
      expect((await vault.get('MOTD')).value.toString()).toBe(' hello\n');
    } finally {
      await backend.store.close();
    }
  });
});
