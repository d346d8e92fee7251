import { Flags } from '@oclif/core';
import { EggCommand } from '../../base.js';

/** Requests in flight get this long after SIGTERM or SIGINT before their connections are cut. */
const GRACE_MS = 2_000;
/** Closing the stores after that gets this long; then the process exits whatever is still open. */
const CLOSE_MS = 3_000;

export default class ProxyServe extends EggCommand {
  static override summary = 'Run the edge proxy: swap egg tokens for provider keys.';
  static override description = `Each request carries an egg token (Authorization: Bearer, or x-api-key). The proxy verifies it, checks revocation, Origin, rate and spend, injects the provider key and forwards to the key's pinned upstream only, streaming both ways. It forwards GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS (405 otherwise). One JSON line per request on stdout: time, token id, status (with a code on a 5xx), bytes, latency, a hash of the headers.

With --tls-cert and --tls-key it serves HTTPS itself, TLS 1.3 only unless --tls-min 1.2; the key file must be yours and private (0600), or root's and readable by its group at most (0640). Without them it speaks plain HTTP: put TLS in front of it when it is not on loopback.

On SIGTERM or SIGINT it stops accepting connections, lets requests in flight finish for 2 s, cuts the rest (and their upstream requests), and exits within 5 s. A second signal exits at once.`;
  static override examples = [
    '<%= config.bin %> proxy serve',
    '<%= config.bin %> proxy serve --host 0.0.0.0 --port 8443 --tls-cert /etc/egg/proxy.crt --tls-key /etc/egg/proxy.key',
    '<%= config.bin %> proxy serve --host 0.0.0.0 --port 8080 --backend aws',
  ];
  static override flags = {
    host: Flags.string({ summary: 'Address to listen on.', default: '127.0.0.1' }),
    usage: Flags.boolean({
      summary:
        'Count per-token usage and run the anomaly rules, which throttle and alert (local backend; docs/alerts.md). --no-usage turns all of it off.',
      default: true,
      allowNo: true,
    }),
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
    'tls-cert': Flags.string({
      summary: 'Serve HTTPS with this PEM certificate (and chain).',
      dependsOn: ['tls-key'],
    }),
    'tls-key': Flags.string({
      summary: "The certificate's PEM private key (mode 0600, or 0640 owned by root).",
      dependsOn: ['tls-cert'],
    }),
    'tls-min': Flags.string({
      summary: 'Oldest TLS version accepted (default 1.3).',
      options: ['1.2', '1.3'],
      dependsOn: ['tls-cert'],
    }),
  };

  async run() {
    const { batchedLineWriter } = await import('../../../src/proxy/log-writer.js');
    const { serveProxy } = await import('../../../src/proxy/serve.js');
    const { cliIdentity } = await import('../../../src/backends/identity.js');
    const { flags } = await this.parse(ProxyServe);
    const config = this.eggConfig(flags);
    const lines = batchedLineWriter((chunk) => process.stdout.write(chunk));
    const tls =
      flags['tls-cert'] === undefined || flags['tls-key'] === undefined
        ? undefined
        : {
            certFile: flags['tls-cert'],
            keyFile: flags['tls-key'],
            minVersion: flags['tls-min'] === '1.2' ? ('1.2' as const) : ('1.3' as const),
          };
    // One identity for the vault, the token store and the signer: the proxy's actor, with the
    // `egg login` session's credentials when there is one.
    const identity = await cliIdentity(config, this.logger, 'proxy');
    const proxy = await serveProxy(config, identity, {
      host: flags.host,
      port: flags.port,
      log: (line) => lines.write(line),
      logger: this.logger,
      ...keyCache(flags['key-cache']),
      upstreamTimeoutMs: flags['upstream-timeout'] * 1000,
      graceMs: GRACE_MS,
      usage: flags.usage,
      ...(tls === undefined ? {} : { tls }),
    });
    process.stderr.write(`egg proxy listening on ${proxy.url}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    // Bounded whatever is still open (an upstream that never answers, a store that hangs):
    // the grace, the closing, then exit; a second signal exits at once. The timer stays set
    // after close(): unreferenced, it only fires if something else still holds the process.
    const exit = () => {
      lines.flush();
      process.stderr.write('egg proxy: stopped before everything closed\n');
      process.exit(1);
    };
    setTimeout(exit, GRACE_MS + CLOSE_MS).unref();
    process.once('SIGINT', exit);
    process.once('SIGTERM', exit);
    await proxy.close();
    lines.flush();
  }
}

/** No flag: sealed keys for 60 s. `--key-cache 0`: the vault on every request. `N`: plaintext for N s. */
function keyCache(seconds: number | undefined) {
  if (seconds === undefined) return {};
  return seconds === 0 ? { keyTtlMs: 0 } : { keyTtlMs: seconds * 1000, plaintextKeys: true };
}
