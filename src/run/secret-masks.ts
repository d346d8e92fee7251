/**
 * What `egg run` masks for its secrets: every form the Action masks (src/run/mask-forms.ts:
 * the value, each of its lines, and its base64, URL-encoded and JSON-escaped forms), so a
 * child that prints a secret encoded is masked as it would be in a workflow's log.
 */
import { isUtf8 } from 'node:buffer';
import { MaskSet, MIN_MASKED_BYTES } from './mask.js';
import { MASK_ENCODINGS, maskForms } from './mask-forms.js';

export interface SecretMasks {
  /** The compiled patterns; `dispose()` it when the child is done. */
  readonly set: MaskSet;
  /** Indexes (into the values given) of values too short to be masked, in any form. */
  readonly skipped: readonly number[];
}

/**
 * The masks for `values`: a value shorter than `MIN_MASKED_BYTES` is skipped with all its
 * forms; a value that is not UTF-8 text is masked as its bytes only (it is never injected).
 *
 * @example
 * const masks = secretMasks(secrets.map((s) => s.value));
 * for (const i of masks.skipped) warn(secrets[i].name);
 * await runChild({ command, env, secrets: masks.set });
 */
export function secretMasks(values: readonly Uint8Array[]): SecretMasks {
  const skipped: number[] = [];
  const forms: Buffer[] = [];
  values.forEach((value, index) => {
    if (value.length === 0) return;
    if (value.length < MIN_MASKED_BYTES) {
      skipped.push(index);
      return;
    }
    forms.push(Buffer.from(value));
    if (!isUtf8(value)) return;
    for (const form of maskForms(Buffer.from(value).toString('utf8'), MASK_ENCODINGS))
      forms.push(Buffer.from(form, 'utf8'));
  });
  try {
    return { set: new MaskSet(forms), skipped };
  } finally {
    for (const form of forms) form.fill(0);
  }
}
