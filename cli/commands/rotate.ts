import { Flags } from '@oclif/core';
import type { RotationPass } from '../../src/rotator/follow.js';
import { errorLabel, isEggError } from '../../src/errors.js';
import { osActor } from '../../src/actor.js';
import { EggCommand } from '../base.js';

export default class Rotate extends EggCommand {
  static override summary = 'Re-encrypt secrets under fresh data keys (the deferred rotator).';
  static override description = `With rotation "deferred" a reader only records its read, and a trusted rotator re-encrypts what was read. \`egg rotate --follow\` is that rotator for a vault without the infra/ Lambda (the local backend): it rotates every secret once, then every secret a read record names, within one poll interval, until interrupted.

Without --follow it rotates every secret in the namespace (or the --name ones) once and exits. Values are never printed.

Either way it anchors the audit trail: it signs a checkpoint of the newest record with the anchor key (EGG_HOME/anchor-key, created on first use; EGG_ANCHOR_KEY_ID on aws), after the pass and, with --follow, after each pass that saw new records (at most one a second). \`egg audit verify\` then fails if the trail is cut below a checkpoint or rewritten. It refuses to anchor a trail that does not check out since the previous checkpoint.`;
  static override examples = [
    '<%= config.bin %> rotate --follow',
    '<%= config.bin %> rotate --name OPENAI_API_KEY',
    '<%= config.bin %> rotate --follow --interval 100 --json',
  ];
  static override enableJsonFlag = true;
  static override flags = {
    follow: Flags.boolean({ summary: 'Keep running: rotate every secret a read names, as it is read.' }),
    interval: Flags.integer({
      summary: 'Milliseconds between polls of the audit trail with --follow.',
      default: 250,
      min: 10,
      max: 60_000,
    }),
    name: Flags.string({ summary: 'Rotate only this secret (repeatable).', multiple: true }),
  };

  async run() {
    const { follow } = await import('../../src/rotator/follow.js');
    const { flags } = await this.parse(Rotate);
    const config = this.eggConfig(flags);
    this.refuseApi(config);
    const anchored = config.backend === 'local' || config.anchorKeyId !== undefined;
    if (!anchored)
      process.stderr.write('egg rotate: not anchoring the audit trail: EGG_ANCHOR_KEY_ID is not set\n');
    if (!flags.follow) {
      const counts = await this.withVault(config, async (vault, backend) => {
        const rotated = await vault.rotate(flags.name);
        this.log(
          `Rotated ${rotated.rotated} secret${rotated.rotated === 1 ? '' : 's'} in ${config.namespace}` +
            (rotated.skipped > 0 ? ` (${rotated.skipped} changed under us, left as the newer write)` : '') +
            (rotated.failed > 0 ? `; ${rotated.failed} failed` : '') +
            '.',
        );
        if (!anchored) return { ...rotated, anchored: null };
        const result = await vault.checkpoint(await this.openAnchor(backend, vault));
        if (result !== undefined)
          this.log(`Anchored the audit trail of ${config.namespace} at record ${result.checkpoint.seq}.`);
        return { ...rotated, anchored: result?.checkpoint.seq ?? null };
      });
      if (counts.failed > 0) process.exitCode = 1;
      return { namespace: config.namespace, ...counts };
    }

    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const json = this.jsonEnabled();
    process.stderr.write(`egg rotate: following ${config.namespace} (Ctrl-C to stop)\n`);
    try {
      await this.withVault(
        config,
        async (vault, backend) => {
          const anchor = anchored ? await this.openAnchor(backend, vault) : undefined;
          await follow({
            vault,
            intervalMs: flags.interval,
            signal: stop.signal,
            onPass: (pass) =>
              process.stdout.write(json ? `${JSON.stringify(pass)}\n` : `${describe(pass)}\n`),
            onError: (error) =>
              this.logger.warn('rotate.pass-failed', {
                namespace: config.namespace,
                error: errorLabel(error),
                ...(isEggError(error, 'ERR_AUDIT_BROKEN') ? { reason: error.message } : {}),
              }),
            ...(anchor === undefined
              ? {}
              : {
                  anchor,
                  onCheckpoint: (checkpoint) =>
                    this.logger.info('rotate.anchored', {
                      namespace: checkpoint.namespace,
                      seq: checkpoint.seq,
                    }),
                }),
          });
        },
        { actor: `rotator:${osActor()}` },
      );
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    return undefined;
  }
}

function describe(pass: RotationPass): string {
  const { rotated, skipped, failed } = pass.counts;
  const what = pass.reason === 'startup' ? 'every secret' : pass.names.join(', ');
  const extra = [skipped > 0 ? `${skipped} skipped` : '', failed > 0 ? `${failed} failed` : '']
    .filter(Boolean)
    .join(', ');
  return `${new Date().toISOString()} ${pass.namespace}: rotated ${rotated} (${what})${extra === '' ? '' : `; ${extra}`}`;
}
