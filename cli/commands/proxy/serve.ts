import { Flags } from '@oclif/core';
import { batchedLineWriter } from '../../../src/proxy/log-writer.js';
import { serveProxy } from '../../../src/proxy/open.js';
import { EggCommand } from '../../base.js';

export default class ProxyServe extends EggCommand {
  static override summary = 'Run the edge proxy: swap egg tokens for provider keys.';
  static override description =
    "Each request carries an egg token (Authorization: Bearer, or x-api-key). The proxy verifies it, checks revocation, Origin, rate and spend, injects the provider key and forwards to the key's pinned upstream only, streaming both ways. One JSON line per request on stdout: time, token id, status, bytes, latency, a hash of the headers. Put TLS in front of it when it is not on loopback.";
  static override examples = [
    '<%= config.bin %> proxy serve',
    '<%= config.bin %> proxy serve --host 0.0.0.0 --port 8080 --backend aws',
  ];
  static override flags = {
    host: Flags.string({ summary: 'Address to listen on.', default: '127.0.0.1' }),
    port: Flags.integer({
      summary: 'Port to listen on (0: any free port).',
      default: 8787,
      min: 0,
      max: 65535,
    }),
    'key-cache': Flags.integer({
      summary: 'Seconds a decrypted provider key is kept in memory (0: read the vault on every request).',
      default: 60,
      min: 0,
      max: 3600,
    }),
    'upstream-timeout': Flags.integer({
      summary: 'Seconds of upstream silence before 504.',
      default: 120,
      min: 1,
    }),
  };

  async run() {
    const { flags } = await this.parse(ProxyServe);
    const config = this.eggConfig(flags);
    const lines = batchedLineWriter((chunk) => process.stdout.write(chunk));
    const proxy = await serveProxy(config, {
      host: flags.host,
      port: flags.port,
      log: (line) => lines.write(line),
      logger: this.logger,
      keyTtlMs: flags['key-cache'] * 1000,
      upstreamTimeoutMs: flags['upstream-timeout'] * 1000,
    });
    process.stderr.write(`egg proxy listening on ${proxy.url}\n`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await proxy.close();
    lines.flush();
  }
}
