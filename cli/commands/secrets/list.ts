import { describeExpiry, expiresWithin, SOON_DAYS } from '../../../src/expiry.js';
import { EggCommand } from '../../base.js';

export default class SecretsList extends EggCommand {
  static override summary = 'List secrets (names and versions, never values).';
  static override examples = [
    '<%= config.bin %> secrets list',
    '<%= config.bin %> secrets list --json -n acme/web/prod',
  ];
  static override enableJsonFlag = true;

  async run() {
    const { flags } = await this.parse(SecretsList);
    const config = this.eggConfig(flags);
    const secrets = await this.withSecrets(config, (vault) => vault.list());
    if (secrets.length === 0) {
      this.log(`No secrets in ${config.namespace}. Add one with \`egg secrets set NAME\`.`);
    } else {
      const now = new Date();
      const expiry = (expires: string | undefined) =>
        expires === undefined
          ? ''
          : expiresWithin(expires, now, SOON_DAYS)
            ? `${expires} (${describeExpiry(expires, now)})`
            : expires;
      // The EXPIRES column only when something expires: a namespace without expiries lists as it always did.
      const expiring = secrets.some((s) => s.expires !== undefined);
      const rows = secrets.map((s) => [
        s.name,
        String(s.rev),
        String(s.gen),
        s.updatedAt,
        ...(expiring ? [expiry(s.expires)] : []),
      ]);
      this.log(table(['NAME', 'REV', 'GEN', 'UPDATED', ...(expiring ? ['EXPIRES'] : [])], rows));
      const soon = secrets.filter((s) => expiresWithin(s.expires, now, SOON_DAYS)).map((s) => s.name);
      if (soon.length > 0)
        process.stderr.write(
          `${soon.length} expired or expiring within ${SOON_DAYS} days: ${soon.join(', ')}\n`,
        );
    }
    return secrets.map(({ name, rev, gen, createdAt, updatedAt, upstream, sealed, expires }) => ({
      name,
      rev,
      gen,
      createdAt,
      updatedAt,
      ...(upstream === undefined ? {} : { upstream }),
      // Stored sealed and not used since (docs/sealed-keys.md).
      ...(sealed === undefined ? {} : { sealed }),
      ...(expires === undefined ? {} : { expires }),
    }));
  }
}

/** Left-aligned columns, two spaces apart. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
