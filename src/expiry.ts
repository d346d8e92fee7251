/**
 * When a secret expires (issue 12, item 4): `--expires 90d` or a date, stored with the value
 * as an ISO 8601 instant. Expiry is advice the edges act on: the CLI warns on a read (or
 * refuses one with `--strict`), `list` shows what expires soon, and the proxy mints no token
 * for an expired provider key. The vault never deletes an expired secret.
 */
import { EggError } from './errors.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const UNITS: Record<string, number> = { h: 60 * 60 * 1000, d: DAY_MS, w: 7 * DAY_MS };

/** How soon an expiry counts as "soon" in `egg secrets list`, unless asked otherwise. */
export const SOON_DAYS = 14;

/**
 * The instant `text` names: a duration from `now` (`90d`, `12h`, `2w`) or a date
 * (`2026-06-30`, midnight UTC) or ISO 8601 instant; it must be in the future.
 * @example parseExpiry('90d', new Date('2026-01-01T00:00:00Z')) // '2026-04-01T00:00:00.000Z'
 */
export function parseExpiry(text: string, now: Date, source = '--expires'): string {
  const duration = /^(\d{1,5})([hdw])$/.exec(text.trim());
  let at: number;
  if (duration !== null) at = now.getTime() + Number(duration[1]) * (UNITS[duration[2] as string] as number);
  else if (/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(text.trim()))
    at = Date.parse(text.trim());
  else at = Number.NaN;
  if (Number.isNaN(at))
    throw new EggError('ERR_USAGE', `${source} ${JSON.stringify(text)} is not a duration or a date`, {
      hint: `give a duration (90d, 12h, 2w) or a date (2026-06-30, or 2026-06-30T12:00:00Z)`,
    });
  if (at <= now.getTime())
    throw new EggError('ERR_USAGE', `${source} ${text} is not in the future`, {
      hint: 'a secret cannot be stored already expired',
    });
  return new Date(at).toISOString();
}

/** Whether a secret expiring at `expires` (none: never) has expired at `now`. */
export function isExpired(expires: string | undefined, now: Date): boolean {
  return expires !== undefined && Date.parse(expires) <= now.getTime();
}

/** Whether it expires within `days` of `now` (or already has). */
export function expiresWithin(expires: string | undefined, now: Date, days: number): boolean {
  return expires !== undefined && Date.parse(expires) - now.getTime() <= days * DAY_MS;
}

/** `expired 3 days ago`, `expires in 5 days`, `expires in 4 hours`: for warnings and `list`. */
export function describeExpiry(expires: string, now: Date): string {
  const ms = Date.parse(expires) - now.getTime();
  const span = (abs: number) => {
    if (abs >= 2 * DAY_MS) return `${Math.floor(abs / DAY_MS)} days`;
    const hours = Math.max(1, Math.floor(abs / (60 * 60 * 1000)));
    return hours === 1 ? '1 hour' : `${hours} hours`;
  };
  return ms <= 0 ? `expired ${span(-ms)} ago` : `expires in ${span(ms)}`;
}

/** The warning a read of an expired secret prints (never the value). */
export function expiredWarning(name: string, expires: string, now: Date): string {
  return `${name} ${describeExpiry(expires, now)} (${expires}); set a new value with \`egg secrets set ${name} --expires …\``;
}

/** The refusal of the same read under `--strict`. */
export function expiredError(names: readonly string[]): EggError {
  return new EggError(
    'ERR_SECRET_EXPIRED',
    `${names.length === 1 ? 'secret' : 'secrets'} expired: ${names.join(', ')}; --strict refuses to read ${names.length === 1 ? 'it' : 'them'}`,
    { hint: 'set a new value with `egg secrets set NAME --expires …`, or read without --strict' },
  );
}
