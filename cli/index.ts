/**
 * Every `egg` command by its id, each loaded on demand: cli/main.ts loads only the command
 * that argv names (all of them for help, shell completion or a mistyped name), and hands the classes to
 * oclif's "explicit" command discovery, so nothing is looked up on disk.
 */
import type { Command } from '@oclif/core';

type Load = () => Promise<{ default: Command.Class }>;

export const COMMANDS: Record<string, Load> = {
  'alerts:add': () => import('./commands/alerts/add.js'),
  'alerts:list': () => import('./commands/alerts/list.js'),
  'alerts:rm': () => import('./commands/alerts/rm.js'),
  'alerts:rules': () => import('./commands/alerts/rules/index.js'),
  'alerts:rules:set': () => import('./commands/alerts/rules/set.js'),
  'alerts:test': () => import('./commands/alerts/test.js'),
  'api:serve': () => import('./commands/api/serve.js'),
  'audit:checkpoint': () => import('./commands/audit/checkpoint.js'),
  audit: () => import('./commands/audit/index.js'),
  'audit:verify': () => import('./commands/audit/verify.js'),
  autocomplete: () => import('./commands/autocomplete/index.js'),
  'autocomplete:create': () => import('./commands/autocomplete/create.js'),
  'autocomplete:script': () => import('./commands/autocomplete/script.js'),
  'ci:init': () => import('./commands/ci/init.js'),
  console: () => import('./commands/console.js'),
  doctor: () => import('./commands/doctor.js'),
  help: async () => ({ default: (await import('@oclif/plugin-help')).commands.help }),
  init: () => import('./commands/init.js'),
  killswitch: () => import('./commands/killswitch.js'),
  login: () => import('./commands/login.js'),
  logout: () => import('./commands/logout.js'),
  'members:add': () => import('./commands/members/add.js'),
  'members:list': () => import('./commands/members/list.js'),
  'members:rm': () => import('./commands/members/rm.js'),
  namespaces: () => import('./commands/namespaces.js'),
  'proxy:serve': () => import('./commands/proxy/serve.js'),
  rotate: () => import('./commands/rotate.js'),
  run: () => import('./commands/run.js'),
  'secrets:get': () => import('./commands/secrets/get.js'),
  'secrets:history': () => import('./commands/secrets/history.js'),
  'secrets:import': () => import('./commands/secrets/import.js'),
  'secrets:keep': () => import('./commands/secrets/keep.js'),
  'secrets:list': () => import('./commands/secrets/list.js'),
  'secrets:pull': () => import('./commands/secrets/pull.js'),
  'secrets:rm': () => import('./commands/secrets/rm.js'),
  'secrets:rollback': () => import('./commands/secrets/rollback.js'),
  'secrets:seal': () => import('./commands/secrets/seal.js'),
  'secrets:set': () => import('./commands/secrets/set.js'),
  'tokens:list': () => import('./commands/tokens/list.js'),
  'tokens:mint': () => import('./commands/tokens/mint.js'),
  'tokens:revoke': () => import('./commands/tokens/revoke.js'),
  'tokens:rotate': () => import('./commands/tokens/rotate.js'),
  'tokens:unthrottle': () => import('./commands/tokens/unthrottle.js'),
  'tokens:usage': () => import('./commands/tokens/usage.js'),
  trust: () => import('./commands/trust.js'),
  whoami: () => import('./commands/whoami.js'),
};
