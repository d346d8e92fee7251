/**
 * `egg doctor` outside a job: does configuration resolve, is `EGG_HOME` private (directory
 * 0700, every file 0600, ours, no symlinks), is the local key there, and for the aws
 * backend, are there AWS credentials and are the table and the KMS key reachable. Each
 * check catches its own failure, so one problem never hides the next.
 */
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type ConfigInput, type EggConfig, resolveConfig } from '../config.js';
import { wipe } from '../crypto/wipe.js';
import { readKeyFile } from '../home.js';
import { KEK_FILE } from '../open.js';
import { type Check, fail, fromError, ok, skip } from './report.js';

export interface LaptopOptions {
  flags: ConfigInput;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Every laptop check, in order. */
export async function laptopChecks(options: LaptopOptions): Promise<Check[]> {
  let config: EggConfig;
  try {
    config = resolveConfig({ flags: options.flags, env: options.env, cwd: options.cwd });
  } catch (error) {
    return [
      fail('configuration', fromError(error).detail, fromError(error).fix ?? 'fix the setting it names'),
    ];
  }
  const checks: Check[] = [ok('configuration', describeConfig(config))];
  if (config.backend === 'local') {
    checks.push(...homeChecks(config.home, true));
    return checks;
  }
  // The aws backend keeps nothing secret in EGG_HOME, but a config.json there must still be private.
  checks.push(...homeChecks(config.home, false));
  const { awsChecks } = await import('./aws.js');
  checks.push(...(await awsChecks(config)));
  return checks;
}

function describeConfig(config: EggConfig): string {
  const parts = [`backend ${config.backend}`, `namespace ${config.namespace}`, `keyring ${config.keyring}`];
  if (config.projectFile !== undefined) {
    const { path, routing } = config.projectFile;
    parts.push(
      routing.length === 0 ? `project file ${path}` : `project file ${path} (trusted: ${routing.join(', ')})`,
    );
  }
  if (config.backend === 'local') parts.push(`EGG_HOME ${config.home}`);
  else {
    parts.push(`table ${config.table ?? '(not set)'}`);
    parts.push(`KMS key ${config.kmsKeyId ?? '(not set)'}`);
    parts.push(`region ${config.region ?? '(from the AWS profile)'}`);
  }
  return parts.join(', ');
}

const uid = () => (typeof process.getuid === 'function' ? process.getuid() : undefined);
const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, '0');

/** The directory's and its files' ownership and modes; with `required`, the vault key too. */
export function homeChecks(home: string, required: boolean): Check[] {
  const name = 'EGG_HOME permissions';
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(home);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return [fail(name, fromError(error).detail)];
    return required
      ? [fail(name, `there is no vault at ${home}`, 'run `egg init` to create one, or set EGG_HOME')]
      : [skip(name, `${home} does not exist (the aws backend does not need it)`)];
  }
  if (stat.isSymbolicLink()) {
    // The vault follows a symlinked EGG_HOME (ensureHome uses stat); say where it points.
    try {
      stat = statSync(home);
    } catch (error) {
      return [fail(name, `${home} is a dangling symlink (${fromError(error).detail})`)];
    }
  }
  if (!stat.isDirectory()) return [fail(name, `${home} is not a directory`, 'set EGG_HOME to a directory')];
  const me = uid();
  const problems: string[] = [];
  const fixes: string[] = [];
  if (me !== undefined && stat.uid !== me) {
    problems.push(`${home} belongs to uid ${stat.uid}, not you (uid ${me})`);
    fixes.push(`chown ${me} ${home}`);
  }
  if ((stat.mode & 0o077) !== 0) {
    problems.push(`${home} is ${octal(stat.mode)}; it must be 0700`);
    fixes.push(`chmod 700 ${home}`);
  }
  const loose: string[] = [];
  let files = 0;
  for (const entry of readdirSync(home).sort()) {
    const path = join(home, entry);
    const entryStat = lstatSync(path);
    if (entryStat.isSymbolicLink()) {
      problems.push(`${path} is a symlink; the vault refuses them`);
      fixes.push(`replace ${path} with the file itself`);
      continue;
    }
    if (!entryStat.isFile()) continue;
    files++;
    if (me !== undefined && entryStat.uid !== me) {
      problems.push(`${path} belongs to uid ${entryStat.uid}, not you`);
      fixes.push(`chown ${me} ${path}`);
    }
    if ((entryStat.mode & 0o077) !== 0) {
      problems.push(`${path} is ${octal(entryStat.mode)}; it must be 0600`);
      loose.push(path);
    }
  }
  if (loose.length > 0) fixes.push(`chmod 600 ${loose.join(' ')}`);
  const checks: Check[] = [
    problems.length === 0
      ? ok(name, `${home} is 0700 and its ${files} file${files === 1 ? ' is' : 's are'} 0600, all yours`)
      : fail(name, problems.join('\n'), fixes.join(' && ')),
  ];
  if (required) checks.push(keyCheck(home));
  return checks;
}

/** The local key-encryption key: present, private, 32 bytes. Read and wiped at once. */
function keyCheck(home: string): Check {
  const path = join(home, KEK_FILE);
  try {
    wipe(readKeyFile(path, 32));
    return ok('vault key', `${path} is present (256-bit)`);
  } catch (error) {
    const { detail, fix } = fromError(error);
    return fail('vault key', detail, fix);
  }
}
