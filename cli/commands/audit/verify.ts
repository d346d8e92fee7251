import { EggError } from '../../../src/errors.js';
import { EggCommand } from '../../base.js';

export default class AuditVerify extends EggCommand {
  static override summary = 'Check that no audit record was removed or altered.';
  static override description =
    'Walks the hash chain from the first record: each record must follow the one before it and hash to its stored hash. Exits 1 when the chain is broken.';
  static override examples = ['<%= config.bin %> audit verify'];
  static override enableJsonFlag = true;

  async run() {
    const { flags } = await this.parse(AuditVerify);
    const config = this.eggConfig(flags);
    const verdict = await this.withVault(config, (vault) => vault.verifyAudit());
    if (!verdict.ok) {
      throw new EggError(
        'ERR_AUDIT_BROKEN',
        `the audit trail of ${config.namespace} is broken at record ${verdict.seq}: ${verdict.reason}`,
      );
    }
    this.log(
      `Audit trail of ${config.namespace} is intact: ${verdict.records} records, head ${verdict.head.slice(0, 16)}…`,
    );
    return { namespace: config.namespace, ...verdict };
  }
}
