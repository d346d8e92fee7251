import { EggCommand } from '../../base.js';

export default class AuditCheckpoint extends EggCommand {
  static override summary = 'Anchor the audit trail now: sign a checkpoint of its newest record.';
  static override description = `A checkpoint is an Ed25519 signature by the anchor key over the newest record's number and hash; \`egg audit verify\` then fails if the trail is ever cut below it or rewritten. It signs only a trail that checks out since the previous checkpoint.

Locally the anchor key is EGG_HOME/anchor-key (created on first use; back it up with the vault). It is held by the same user as the vault, so it guards against accidents and tools, not against that user. On aws it is the KMS key EGG_ANCHOR_KEY_ID, which only the rotator may sign with: the rotator anchors every namespace it rotates, and this command needs kms:Sign on that key. With the api backend the API signs with its own anchor key (a write member may ask it to).`;
  static override examples = [
    '<%= config.bin %> audit checkpoint',
    '<%= config.bin %> audit checkpoint --json',
  ];
  static override enableJsonFlag = true;

  async run() {
    const { flags } = await this.parse(AuditCheckpoint);
    const config = this.eggConfig(flags);
    const ns = config.namespace;
    const result = await this.withSession(config, (session) => session.checkpoint());
    if (result === undefined) {
      this.log(`The audit trail of ${ns} has no records yet; nothing to anchor.`);
      return { namespace: ns, created: false };
    }
    const { checkpoint, created } = result;
    this.log(
      created
        ? `Anchored the audit trail of ${ns} at record ${checkpoint.seq} (key ${checkpoint.kid}).`
        : `The audit trail of ${ns} is already anchored at its head, record ${checkpoint.seq}.`,
    );
    return { ...checkpoint, created };
  }
}
