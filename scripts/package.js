#!/usr/bin/env node
/**
 * `npm run package`: bundles the Action with ncc into dist/main/ and dist/post/, the
 * rotator Lambda into dist/rotator/ and the service's API Lambda into dist/api/ (minified,
 * TypeScript transpiled by ncc; `npm run typecheck` does the type checking), then refuses a
 * bundle that ncc could not fully resolve or that holds oclif.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { minify } from 'terser';
import { join } from 'node:path';

const ENTRIES = {
  main: 'src/action/main-entry.ts',
  post: 'src/action/post-entry.ts',
  // The deferred rotator's Lambda (infra/stack.ts deploys this directory as its code).
  rotator: 'src/rotator/lambda.ts',
  // The service mode's API Lambda (infra/service.ts deploys this directory as its code).
  api: 'src/api/lambda.ts',
};
let failed = false;

for (const [name, entry] of Object.entries(ENTRIES)) {
  const out = join('dist', name);
  rmSync(out, { recursive: true, force: true });
  const result = spawnSync(
    'ncc',
    ['build', entry, '--minify', '--transpile-only', '--license', 'licenses.txt', '--out', out],
    {
      encoding: 'utf8',
      shell: process.platform === 'win32',
    },
  );
  const log = `${result.stdout}${result.stderr}`;
  if (result.status !== 0) {
    process.stderr.write(log);
    process.exit(result.status ?? 1);
  }
  // ncc turns a module it cannot resolve into a warning and a throw at run time.
  if (/Module not found|Can't resolve|Critical dependency/.test(log)) {
    process.stderr.write(`${log}\n${out}: ncc could not resolve every module (see above)\n`);
    failed = true;
  }
  for (const file of readdirSync(out).filter((f) => f.endsWith('.js'))) {
    if (readFileSync(join(out, file), 'utf8').includes('@oclif/')) {
      process.stderr.write(
        `${join(out, file)} holds oclif code; the Action must not import cli/ or @oclif/*\n`,
      );
      failed = true;
    }
  }
  // ncc minifies the entry but leaves the lazily loaded chunks (the AWS SDK clients) as
  // they are; minify them too, so the whole Action stays small on disk and quick to parse.
  for (const chunk of readdirSync(out).filter((f) => /^\d+\.index\.js$/.test(f))) {
    const path = join(out, chunk);
    const { code } = await minify(readFileSync(path, 'utf8'), { module: true, compress: true, mangle: true });
    if (code === undefined) throw new Error(`terser returned nothing for ${path}`);
    writeFileSync(path, code);
  }
  const sizes = readdirSync(out).map((f) => `${f} ${statSync(join(out, f)).size} B`);
  process.stdout.write(`${out}: ${sizes.join(', ')}\n`);
}
process.exit(failed ? 1 : 0);
