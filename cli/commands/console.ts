import { Flags } from '@oclif/core';
import { EggCommand } from '../base.js';

export default class Console extends EggCommand {
  static override summary = 'Open the web console: tokens with live usage, provider keys, the audit trail.';
  static override description = `Serves a web page on 127.0.0.1 only, for the configured backend and namespace, and prints a one-time link (opened in the browser unless --no-open). The link's secret is traded once for a session cookie; any other request, and the link used again, is refused. Every change the page makes is checked for the console's own origin and a CSRF token. The page is part of egg: nothing is downloaded. Stop it with Ctrl-C.

See docs/console.md.`;
  static override examples = [
    '<%= config.bin %> console',
    '<%= config.bin %> console -n acme/web/prod --port 8790 --no-open',
  ];
  static override flags = {
    port: Flags.integer({ summary: 'Port on 127.0.0.1 (0: any free port).', default: 0, min: 0, max: 65535 }),
    open: Flags.boolean({
      summary:
        'Open the link in the browser (EGG_BROWSER, else the system opener); --no-open only prints it.',
      default: true,
      allowNo: true,
    }),
  };

  async run() {
    // Loaded here only: no other command pays for the console's server or page.
    const { serveConsole } = await import('../../src/console/serve.js');
    const { cliIdentity } = await import('../../src/backends/identity.js');
    const { flags } = await this.parse(Console);
    const config = this.eggConfig(flags);
    const identity = await cliIdentity(config, this.logger);
    const running = await serveConsole(config, identity, { port: flags.port, logger: this.logger });
    process.stderr.write(
      `egg console for ${config.namespace} (${config.backend}) on ${running.origin}\nOpen this link once; it is spent by the first visit:\n  ${running.url}\n`,
    );
    if (flags.open) {
      const { openBrowser } = await import('../../src/login/browser.js');
      if (!(await openBrowser(running.url)))
        process.stderr.write('Could not start a browser; open the link above yourself.\n');
    }
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await running.close();
  }
}
