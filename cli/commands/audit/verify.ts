import { Flags } from '@oclif/core';
import { EggError } from '../../../src/errors.js';
import { EggCommand } from '../../base.js';

export default class AuditVerify extends EggCommand {
  static override summary = 'Check that no audit record was removed, altered or rewritten.';
  static override description = `Walks the hash chain from the first record (each record must follow the one before it and hash to its stored hash), then checks it against the trail's signed checkpoints: each must be signed by the anchor key (EGG_HOME/anchor-key, or EGG_ANCHOR_KEY_ID on aws), and the record it anchors must still be there, unchanged. A trail cut below a checkpoint, or recomputed from scratch, fails. Exits 1 when the trail is broken.

The records after the newest checkpoint are reported as unanchored: nothing but the chain vouches for them, so records removed from the end of that part would not show. A trail with no checkpoint is reported as "no checkpoint: nothing anchored". Checkpoints are signed by \`egg rotate\`, \`egg audit checkpoint\` and, on aws, the rotator.`;
  static override examples = [
    '<%= config.bin %> audit verify',
    '<%= config.bin %> audit verify --max-unanchored 100 --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    'max-unanchored': Flags.integer({
      summary: 'Also fail when more records than this are unanchored (every record, without a checkpoint).',
      min: 0,
    }),
  };

  async run() {
    const { flags } = await this.parse(AuditVerify);
    const config = this.eggConfig(flags);
    const verdict = await this.withSession(config, (session) => session.verifyAudit());
    const ns = config.namespace;
    if (!verdict.ok) {
      throw new EggError(
        'ERR_AUDIT_BROKEN',
        `the audit trail of ${ns} is broken at record ${verdict.seq}: ${verdict.reason}`,
      );
    }
    const limit = flags['max-unanchored'];
    if (limit !== undefined && verdict.unanchored > limit) {
      const what =
        verdict.anchor === null
          ? `has no checkpoint, so ${verdict.records === 1 ? 'its 1 record is' : `its ${verdict.records} records are`} unanchored`
          : `has ${plural(verdict.unanchored, 'unanchored record')} after its newest checkpoint (record ${verdict.anchor.seq})`;
      throw new EggError(
        'ERR_AUDIT_BROKEN',
        `the audit trail of ${ns} ${what}, more than --max-unanchored ${limit} allows`,
        {
          hint: 'anchor it with `egg rotate` or `egg audit checkpoint`, or check that the rotator runs',
        },
      );
    }
    const head = `${verdict.head.slice(0, 16)}…`;
    if (verdict.anchor === null && verdict.records === 0)
      this.log(`Audit trail of ${ns}: no checkpoint: nothing anchored, and no records yet.`);
    else if (verdict.anchor === null)
      this.log(
        `Audit trail of ${ns}: no checkpoint: nothing anchored. ${verdict.records === 1 ? 'Its 1 record links' : `Its ${verdict.records} records link`} up to head ${head}, but a trail cut at its end or recomputed from scratch would look the same.`,
      );
    else
      this.log(
        `Audit trail of ${ns} verified: ${plural(verdict.records, 'record')}, head ${head}; anchored through record ${verdict.anchor.seq} by the checkpoint signed ${verdict.anchor.time}; ${verdict.unanchored === 1 ? '1 record after it is' : `${verdict.unanchored} records after it are`} unanchored.`,
      );
    return { namespace: ns, ...verdict };
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
