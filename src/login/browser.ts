/**
 * Opening the sign-in page of a browser login: `EGG_BROWSER` when set (a command and its
 * arguments, split on spaces, no shell; the URL is appended), else the platform's opener:
 * `open` on macOS, `xdg-open` elsewhere, and on Windows `rundll32 url.dll,FileProtocolHandler`
 * (as Go's github.com/pkg/browser does) rather than `cmd /c start`, since cmd.exe would read
 * the `&` between the URL's parameters as a command separator. Never through a shell.
 */
import { spawn } from 'node:child_process';

export interface OpenBrowserOptions {
  env?: NodeJS.ProcessEnv;
  platform?: NodeJS.Platform;
  spawn?: typeof spawn;
}

/** Variables the browser has no business inheriting from `egg`. */
const WITHHELD = [
  'EGG_OIDC_CLIENT_SECRET',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_ACCESS_KEY_ID',
];

/** The command that opens `url`: argv, URL last. */
export function browserCommand(url: string, options: Omit<OpenBrowserOptions, 'spawn'> = {}): string[] {
  const custom = (options.env ?? process.env).EGG_BROWSER?.trim();
  if (custom) return [...custom.split(/\s+/), url];
  switch (options.platform ?? process.platform) {
    case 'darwin':
      return ['open', url];
    case 'win32':
      return ['rundll32', 'url.dll,FileProtocolHandler', url];
    default:
      return ['xdg-open', url];
  }
}

/**
 * Start the opener and return whether it started (not whether a browser showed the page:
 * the caller prints the link either way). Only http(s) URLs, which cannot pass for an option.
 */
export async function openBrowser(url: string, options: OpenBrowserOptions = {}): Promise<boolean> {
  if (!/^https?:\/\//.test(url)) throw new TypeError('openBrowser opens http(s) URLs only');
  const [command, ...args] = browserCommand(url, options);
  if (command === undefined) return false;
  const env = { ...(options.env ?? process.env) };
  for (const name of WITHHELD) delete env[name];
  return new Promise<boolean>((resolve) => {
    const child = (options.spawn ?? spawn)(command, args, {
      stdio: 'ignore',
      detached: true,
      windowsHide: true,
      env,
    });
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}
