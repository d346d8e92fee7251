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
      summary:
        'Opt-in: keep the decrypted provider key in memory for SECONDS (0: no cache, read the vault on every request).',
      description:
        'Without this flag a provider key read from the vault serves requests for 60 s sealed (AES-256-CTR under a key made for this process, never written anywhere); each request decrypts it into a buffer that is wiped once the upstream request is written. With --key-cache SECONDS the decrypted key itself stays in memory that long. See docs/tokens.md.',
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
      ...keyCache(flags['key-cache']),
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

/** No flag: sealed keys for 60 s. `--key-cache 0`: the vault on every request. `N`: plaintext for N s. */
function keyCache(seconds: number | undefined) {
  if (seconds === undefined) return {};
  return seconds === 0 ? { keyTtlMs: 0 } : { keyTtlMs: seconds * 1000, plaintextKeys: true };
}
