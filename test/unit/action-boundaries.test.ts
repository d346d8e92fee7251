/**
 * Module boundaries (STYLE, Shape and Composition): only src/action/ is the Action's edge and
 * imports @actions/core; nothing else in src/ or cli/ imports src/action/; nothing in src/
 * imports oclif or cli/; the committed bundles hold no oclif code. And the layer order of
 * docs/architecture.md: every import in src/ points at its own layer or one below, and no
 * file imports itself back through others (an import cycle), statically or with import().
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
        'src/proxy/serve.ts → src/backends/open-backend.js',
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

/**
 * The layers of docs/architecture.md, lowest first: each src/ module (a folder, or a file at
 * the top of src/) belongs to exactly one. A new module must be placed here to pass.
 */
const LAYERS: readonly (readonly string[])[] = [
  // Rules and plumbing everything may use.
  [
    'errors',
    'log',
    'retry',
    'names',
    'closest',
    'actor',
    'home',
    'own-files',
    'config-file',
    'trust',
    'config',
    'subjects',
    'expiry',
  ],
  // Primitives and the ports' adapters.
  ['crypto', 'formats', 'aws', 'auth', 'keyrings', 'stores', 'local-vault'],
  // The vault on a keyring and a store; the login session.
  ['vault', 'login'],
  // Tokens on the vault's store; alerts about their use (issue 10).
  ['tokens', 'alerts'],
  // The composition root: configuration and one identity to every adapter.
  ['backends'],
  // The edges (and cli/, above all of src/).
  ['action', 'proxy', 'rotator', 'run', 'doctor', 'github', 'console', 'api'],
];

/** `src/vault/vault.ts` → `vault`; `src/config.ts` → `config`. */
function moduleOf(file: string): string {
  const parts = file.split('/');
  return (parts.length > 2 ? parts[1] : parts[1]?.replace(/\.(ts|js)$/, '')) as string;
}

function layerOf(file: string): number {
  return LAYERS.findIndex((layer) => layer.includes(moduleOf(file)));
}

/** Imports between src/ files, as `from → to` with both as .ts paths. */
function srcEdges(files: string[]): [string, string][] {
  return files.flatMap((file) =>
    imports(file)
      .filter((target) => target.startsWith('src/'))
      .map((target): [string, string] => [file, target.replace(/\.js$/, '.ts')]),
  );
}

/** Every cycle's files, found by depth-first search (one cycle per back edge). */
function cycles(edges: [string, string][]): string[][] {
  const next = new Map<string, string[]>();
  for (const [from, to] of edges) next.set(from, [...(next.get(from) ?? []), to]);
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    path.push(node);
    for (const to of next.get(node) ?? []) {
      if (state.get(to) === 'open') found.push([...path.slice(path.indexOf(to)), to]);
      else if (state.get(to) === undefined) visit(to);
    }
    path.pop();
    state.set(node, 'done');
  };
  for (const node of next.keys()) if (state.get(node) === undefined) visit(node);
  return found;
}

describe('layer order', () => {
  const src = sources('src');

  it('places every module of src/ in exactly one layer', () => {
    const modules = [...new Set(src.map(moduleOf))];
    expect(modules.filter((m) => LAYERS.filter((layer) => layer.includes(m)).length !== 1)).toEqual([]);
  });

  it('imports only from its own layer or below', () => {
    const upward = srcEdges(src)
      .filter(([from, to]) => layerOf(to) > layerOf(from))
      .map(([from, to]) => `${from} → ${to}`);
    expect(upward).toEqual([]);
  });

  it('has no import cycle between files', () => {
    expect(cycles(srcEdges(src))).toEqual([]);
  });

  it('has no import cycle between modules', () => {
    const between = srcEdges(src)
      .map(([from, to]): [string, string] => [moduleOf(from), moduleOf(to)])
      .filter(([from, to]) => from !== to);
    expect(cycles(between)).toEqual([]);
  });

  it('finds the cycle that src/open.ts and src/aws/backend.ts made (so the check can fail)', () => {
    expect(
      cycles([
        ['src/open.ts', 'src/aws/backend.ts'],
        ['src/aws/backend.ts', 'src/open.ts'],
      ]),
    ).toEqual([['src/open.ts', 'src/aws/backend.ts', 'src/open.ts']]);
  });
});
