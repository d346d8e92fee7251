import { Flags } from '@oclif/core';
import { EggCommand } from '../../base.js';
import { table } from '../secrets/list.js';

export default class Audit extends EggCommand {
  static override summary = 'Show the audit trail of a namespace: who did what, when (never values).';
  static override examples = ['<%= config.bin %> audit', '<%= config.bin %> audit --limit 50 --json'];
  static override enableJsonFlag = true;
  static override flags = {
    limit: Flags.integer({ summary: 'Show only the newest N records.', min: 1 }),
  };

  async run() {
    const { flags } = await this.parse(Audit);
    const config = this.eggConfig(flags);
    const all = await this.withSecrets(config, (vault) => vault.auditTrail());
    const records = flags.limit === undefined ? all : all.slice(-flags.limit);
    if (records.length === 0) this.log(`No audit records in ${config.namespace}.`);
    else
      this.log(
        table(
          ['SEQ', 'TIME', 'ACTOR', 'ACTION', 'OUTCOME', 'TARGETS'],
          records.map((r) => [String(r.seq), r.time, r.actor, r.action, r.outcome, r.targets.join(',')]),
        ),
      );
    return records;
  }
}
