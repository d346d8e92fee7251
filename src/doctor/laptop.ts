/**
 * `egg doctor` outside a job: does configuration resolve (with a keyring the backend has),
 * is `EGG_HOME` private (directory 0700, every file 0600, ours, no symlinks), does the
 * local kek open vault.db (its key check value, SQLite's quick_check: no secret is
 * decrypted or read), and for the aws backend, are there AWS credentials and are the table
 * and the KMS key reachable. Each check catches its own failure, so one problem never hides
 * the next.
 */
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type ConfigInput, type EggConfig, resolveConfig } from '../config.js';
import { KEK_FILE, type LocalVault, openLocalVault, VAULT_FILE } from '../local-vault.js';
import { assertKeyringFits } from '../backends/open-backend.js';
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
    assertKeyringFits(config);
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
  if (required) {
    checks.push(
      problems.length === 0
        ? vaultCheck(home)
        : skip('vault', 'not opened: the vault refuses to open until EGG_HOME permissions are fixed'),
    );
  }
  return checks;
}

/**
 * The local vault opens as every command opens it (kek and vault.db belong together: the
 * key check value), SQLite's quick_check passes, and every secret is wrapped by this kek.
 * That proves the key decrypts the vault without unwrapping a data key or reading a value,
 * so doctor makes no read the audit trail would have to record.
 */
function vaultCheck(home: string): Check {
  const name = 'vault';
  const kek = join(home, KEK_FILE);
  const file = join(home, VAULT_FILE);
  let vault: LocalVault;
  try {
    // A vault split across two keys opens (with a warning, dropped here) and fails below.
    vault = openLocalVault(home, { create: false });
  } catch (error) {
    const { detail, fix } = fromError(error);
    return fail(name, detail, fix);
  }
  try {
    const problems = vault.store.quickCheck();
    if (problems.length !== 1 || problems[0] !== 'ok') {
      return fail(
        name,
        `${file} fails SQLite's quick_check: ${problems.slice(0, 3).join('; ')}`,
        `restore ${file} from your backup`,
      );
    }
    const contents = vault.store.contents();
    const other = contents.secrets - (contents.keyIds.get(vault.keyring.keyId) ?? 0);
    if (other > 0) {
      return fail(
        name,
        `${other} of the ${contents.secrets} secrets in ${file} are wrapped by another key than ${kek}; they cannot be decrypted with it`,
        'restore the kek they were written with to read them, then set them again, or `egg secrets rm` them',
      );
    }
    const secrets =
      contents.secrets === 0
        ? 'no secrets yet'
        : contents.secrets === 1
          ? '1 secret, wrapped by it'
          : `${contents.secrets} secrets, all wrapped by it`;
    return ok(name, `${kek} opens ${file} (key check value matches); ${secrets}; SQLite quick_check ok`);
  } catch (error) {
    const { detail, fix } = fromError(error);
    return fail(name, detail, fix);
  } finally {
    vault.keyring.close();
    void vault.store.close();
  }
}
