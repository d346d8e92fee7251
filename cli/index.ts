/**
 * Every `egg` command by its id, for oclif's "explicit" command discovery: the bundle
 * (scripts/bundle.js) holds the command classes themselves, so nothing is looked up on disk.
 * A command's heavy modules load in its `run`, not here.
 */
import AuditCheckpoint from './commands/audit/checkpoint.js';
import Audit from './commands/audit/index.js';
import AuditVerify from './commands/audit/verify.js';
import CiInit from './commands/ci/init.js';
import Doctor from './commands/doctor.js';
import Init from './commands/init.js';
import Killswitch from './commands/killswitch.js';
import Login from './commands/login.js';
import Logout from './commands/logout.js';
import ProxyServe from './commands/proxy/serve.js';
import Rotate from './commands/rotate.js';
import Run from './commands/run.js';
import SecretsGet from './commands/secrets/get.js';
import SecretsList from './commands/secrets/list.js';
import SecretsPull from './commands/secrets/pull.js';
import SecretsRm from './commands/secrets/rm.js';
import SecretsSet from './commands/secrets/set.js';
import TokensList from './commands/tokens/list.js';
import TokensMint from './commands/tokens/mint.js';
import TokensRevoke from './commands/tokens/revoke.js';
import Trust from './commands/trust.js';
import Whoami from './commands/whoami.js';

export const COMMANDS = {
  'audit:checkpoint': AuditCheckpoint,
  audit: Audit,
  'audit:verify': AuditVerify,
  'ci:init': CiInit,
  doctor: Doctor,
  init: Init,
  killswitch: Killswitch,
  login: Login,
  logout: Logout,
  'proxy:serve': ProxyServe,
  rotate: Rotate,
  run: Run,
  'secrets:get': SecretsGet,
  'secrets:list': SecretsList,
  'secrets:pull': SecretsPull,
  'secrets:rm': SecretsRm,
  'secrets:set': SecretsSet,
  'tokens:list': TokensList,
  'tokens:mint': TokensMint,
  'tokens:revoke': TokensRevoke,
  trust: Trust,
  whoami: Whoami,
};
