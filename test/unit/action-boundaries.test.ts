/**
 * The Action's module boundaries (STYLE, Shape): only src/action/ is the Action's edge and
 * imports @actions/core; nothing else in src/ or cli/ imports src/action/; nothing in src/
 * imports oclif or cli/; and the committed bundles hold no oclif code.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)));
}

/** Every module specifier a file imports, statically or with `import()`, relative ones resolved from the root. */
function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*(?:\/\*.*?\*\/\s*)?)'([^']+)'/g)].map(
    (m) => m[1] as string,
  );
  return specifiers.map((s) => (s.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), s)) : s));
}

const edges = (files: string[]) =>
  files.flatMap((file) => imports(file).map((target) => `${file} → ${target}`));

describe('module boundaries', () => {
  const src = sources('src');
  const cli = sources('cli');

  it('sees the imports it checks (so the checks below cannot pass vacuously)', () => {
    expect(edges(src)).toEqual(
      expect.arrayContaining([
        'src/action/runner.ts → node_modules/@actions/core/lib/command.js',
        'src/doctor/job.ts → src/auth/oidc-token.js',
        'src/action/main.ts → src/backends/aws.js',
      ]),
    );
  });

  it('imports @actions/core only in src/action/', () => {
    expect(
      edges([...src, ...cli].filter((f) => !f.startsWith('src/action/'))).filter((e) =>
        /@actions\/core/.test(e),
      ),
    ).toEqual([]);
  });

  it('imports src/action/ from nowhere but src/action/', () => {
    expect(
      edges([...src, ...cli].filter((f) => !f.startsWith('src/action/'))).filter((e) =>
        / → src\/action\//.test(e),
      ),
    ).toEqual([]);
  });

  it('imports neither oclif nor cli/ from src/', () => {
    expect(edges(src).filter((e) => /→ (@oclif\/|cli\/)/.test(e))).toEqual([]);
  });

  it('bundles no oclif code into the Action', () => {
    const bundled = ['main', 'post'].flatMap((step) =>
      readdirSync(join(ROOT, 'dist', step))
        .filter((f) => f.endsWith('.js'))
        .map((f) => join('dist', step, f)),
    );
    expect(bundled).toContain('dist/main/index.js');
    expect(bundled.filter((f) => readFileSync(join(ROOT, f), 'utf8').includes('@oclif/'))).toEqual([]);
  });
});
