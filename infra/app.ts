/**
 * Builds the CDK app from a grants file and options, without touching AWS: no lookups, no
 * context that needs credentials, so `npm run synth` works offline (it only needs the
 * rotator's bundle on disk, and stages the proxy's Docker context without Docker).
 * `synth.ts` is the command-line entry, mapping its flags onto these options (`--proxy` →
 * `proxy: { enabled: true }`, `--keyring`, `--rotator-code`…); tests call `buildStack` directly.
 */
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { type Grant, parseGrants } from './grants.js';
import { EggCartonStack, type EggCartonStackProps } from './stack.js';

export interface BuildOptions extends Omit<EggCartonStackProps, 'grants'> {
  /** Parsed grants; or `grantsFile` to read them. */
  grants?: Grant[];
  grantsFile?: string;
  stackName?: string;
  /** Where `app.synth()` writes the cloud assembly (the `cdk` CLI sets `CDK_OUTDIR`). */
  outdir?: string;
}

export const DEFAULT_STACK_NAME = 'EggCarton';

/** A new App holding one Egg Carton stack. Throws `ERR_INVALID_CONFIG` for a bad grant. */
export function buildStack(options: BuildOptions): { app: App; stack: EggCartonStack } {
  const { grants, grantsFile, stackName, outdir, ...props } = options;
  const parsed =
    grants ??
    (grantsFile === undefined ? undefined : parseGrants(readFileSync(grantsFile, 'utf8'), grantsFile));
  if (parsed === undefined) throw new TypeError('buildStack needs grants or grantsFile');
  const app = new App(outdir === undefined ? {} : { outdir });
  const stack = new EggCartonStack(app, stackName ?? DEFAULT_STACK_NAME, { ...props, grants: parsed });
  return { app, stack };
}
