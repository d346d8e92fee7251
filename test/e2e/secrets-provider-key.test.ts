/**
 * `egg secrets set --upstream` refuses a provider key the proxy could never send (issue 9,
 * item 8): empty, or with the newline that `echo` and `<<<` add. Built CLI, local vault.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { egg, findLeaks } from '../support/cli.js';

const KEY = 'sk-setkey-canary-88c1f07e-DO-NOT-LEAK';
const UPSTREAM = 'https://api.openai.com';

describe('egg secrets set of a provider key', () => {
  let base: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'egg-setkey-e2e-'));
    env = { EGG_HOME: join(base, 'home'), EGG_NAMESPACE: 'acme/web' };
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('refuses the newline of <<< and an empty key, says how to store it exactly, and stores nothing', () => {
    const hint =
      '(store the key exactly, with no newline: egg secrets set OPENAI_KEY --upstream … and type it at the prompt, or add --from-env VAR).\n';
    const newline = egg(['secrets', 'set', 'OPENAI_KEY', '--upstream', UPSTREAM], { env, input: `${KEY}\n` });
    expect({ code: newline.code, stderr: newline.stderr }).toEqual({
      code: 1,
      stderr: `Error: OPENAI_KEY is a provider key, sent as it is in a header, and its value starts or ends with whitespace (the newline that echo or <<< adds is stored too); nothing was stored ${hint}`,
    });
    const empty = egg(['secrets', 'set', 'OPENAI_KEY', '--upstream', UPSTREAM], { env, input: '' });
    expect({ code: empty.code, stderr: empty.stderr }).toEqual({
      code: 1,
      stderr: `Error: OPENAI_KEY is a provider key, sent as it is in a header, and its value is empty; nothing was stored ${hint}`,
    });
    expect(findLeaks(newline.stdout + newline.stderr, KEY)).toEqual([]);
    expect(egg(['secrets', 'list', '--json'], { env }).stdout).not.toContain('OPENAI_KEY');

    const ok = egg(['secrets', 'set', 'OPENAI_KEY', '--upstream', UPSTREAM], { env, input: KEY });
    expect(ok.code).toBe(0);
    // Set again without --upstream, it keeps its upstream: the rule holds all the same.
    const again = egg(['secrets', 'set', 'OPENAI_KEY'], { env, input: ` ${KEY}` });
    expect(again.code).toBe(1);
    expect(egg(['secrets', 'get', 'OPENAI_KEY'], { env }).stdoutBytes.toString()).toBe(KEY);
  });

  it('keeps a price table with the key (per-1K scaled to per million), keeps it on the next set, and refuses one that is not a table', () => {
    const set = egg(
      [
        'secrets',
        'set',
        'PRICED_KEY',
        '--upstream',
        UPSTREAM,
        '--price',
        'input=0.0025,output=0.01',
        '--price-unit',
        'per-1K',
        '--json',
      ],
      { env, input: KEY },
    );
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ name: 'PRICED_KEY', price: 'input=2.5,output=10' });
    const again = egg(['secrets', 'set', 'PRICED_KEY', '--json'], { env, input: `${KEY}2` });
    expect(JSON.parse(again.stdout)).toMatchObject({ price: 'input=2.5,output=10', rev: 2 });
    const bad = egg(['secrets', 'set', 'PRICED_KEY', '--price', 'input=2.5'], { env, input: KEY });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('is not a price table');
  });
});
