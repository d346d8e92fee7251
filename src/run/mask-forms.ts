/**
 * What to mask for one secret value: the value itself, each line of a multi-line value
 * (the runner matches masks within a line, so a multi-line mask alone misses a value
 * printed line by line), and each requested encoding of the value. The Action registers
 * these with `::add-mask::`; `egg run` masks the same forms in the child's output.
 */

/** An encoded form of a value that is masked besides the value itself. */
export type MaskEncoding = 'base64' | 'url' | 'json';
export const MASK_ENCODINGS: readonly MaskEncoding[] = ['base64', 'url', 'json'];

/** The distinct, non-empty strings to register with `::add-mask::` for `value`, whole value first. */
export function maskForms(value: string, encodings: readonly MaskEncoding[]): string[] {
  const forms = new Set<string>();
  const add = (form: string) => {
    if (form.trim() !== '') forms.add(form);
  };
  add(value);
  const lines = value.split(/\r?\n|\r/);
  if (lines.length > 1) {
    for (const line of lines) {
      add(line);
      // The runner trims what it prints in some places (annotations, summaries).
      add(line.trim());
    }
  }
  for (const encoding of encodings) {
    if (encoding === 'base64') add(Buffer.from(value, 'utf8').toString('base64'));
    else if (encoding === 'url') add(encodeURIComponent(value));
    // JSON-escaped, without the surrounding quotes: how the value looks inside a JSON document.
    else add(JSON.stringify(value).slice(1, -1));
  }
  return [...forms];
}
