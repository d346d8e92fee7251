/**
 * Builds the console page's script and style (src/console/web/) with esbuild, in memory: one
 * ES module for the browser and the stylesheet, minified. scripts/bundle.js puts the result
 * into the CLI bundle in place of src/console/assets.ts; from the sources (tests,
 * development) that module calls this itself.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const WEB = fileURLToPath(new URL('../src/console/web/', import.meta.url));

/** @returns {Promise<{ js: string, css: string }>} */
export async function buildConsoleWeb() {
  const result = await build({
    entryPoints: [`${WEB}app.ts`],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const js = result.outputFiles[0]?.text;
  if (js === undefined) throw new Error('esbuild built no console script');
  return { js, css: await readFile(`${WEB}app.css`, 'utf8') };
}
