/**
 * The workflow `egg ci init` writes: one job that may request its OIDC token
 * (`permissions: id-token: write`, everything else read-only) and pulls the namespace's
 * secrets with `eggcarton/action@v1`, configured from repository variables so that the
 * file holds no account details. Its header names the exact `sub` the role must trust.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { EggError } from '../errors.js';
import { lineDiff } from './diff.js';

export const WORKFLOW_PATH = '.github/workflows/egg.yml';

/** actions/checkout pinned to a commit, as every third-party action should be (v4.2.2). */
const CHECKOUT = 'actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2';

export interface WorkflowOptions {
  /** `owner/name`, for the trust-policy comment. */
  repository: string;
  /** The branch whose pushes run the job. */
  branch: string;
  /** A deployment environment for the job; it changes the token's `sub`. */
  environment?: string;
  /**
   * What GitHub puts before the qualifier in the job's `sub`: `repo:acme/web`, or
   * `repo:acme@1001/web@2002` for a repository on immutable subjects. Default: the name-only form.
   */
  subjectPrefix?: string;
}

/** What follows `repo:<owner>/<repo>:` in the `sub` of this workflow's job. */
export function qualifierFor(options: { branch: string; environment?: string | undefined }): string {
  return options.environment === undefined
    ? `ref:refs/heads/${options.branch}`
    : `environment:${options.environment}`;
}

/** The `sub` claim a job of this workflow presents (GitHub Docs, "OpenID Connect reference"). */
export function subjectFor(options: WorkflowOptions): string {
  return `${options.subjectPrefix ?? `repo:${options.repository}`}:${qualifierFor(options)}`;
}

/** The workflow's text. */
export function renderWorkflow(options: WorkflowOptions): string {
  const environment =
    options.environment === undefined ? [] : [`    environment: ${yamlScalar(options.environment)}`];
  return [
    '# Written by `egg ci init`: pulls the secrets of vars.EGG_NAMESPACE into the job, masked.',
    '# The role in vars.EGG_ROLE_ARN must trust this job’s OIDC token; its trust policy needs',
    '#   "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"',
    `#   "token.actions.githubusercontent.com:sub": "${subjectFor(options)}"`,
    '# `egg doctor --role-arn ARN`, run as a step of this job, says what does not match.',
    'name: Egg Carton',
    '',
    'on:',
    '  push:',
    `    branches: [${yamlScalar(options.branch)}]`,
    '  workflow_dispatch:',
    '',
    'permissions:',
    '  contents: read',
    '  id-token: write # lets the job request its OIDC token; nothing works without it',
    '',
    'jobs:',
    '  secrets:',
    '    runs-on: ubuntu-latest',
    ...environment,
    '    steps:',
    `      - uses: ${CHECKOUT}`,
    '      - id: egg',
    '        uses: eggcarton/action@v1',
    '        with:',
    '          role-to-assume: ${{ vars.EGG_ROLE_ARN }}',
    '          aws-region: ${{ vars.AWS_REGION }}',
    '          table: ${{ vars.EGG_TABLE }}',
    '          kms-key-id: ${{ vars.EGG_KMS_KEY_ID }}',
    '          namespace: ${{ vars.EGG_NAMESPACE }}',
    '          rotation: deferred # infra/ roles are read-only: its rotator re-encrypts what was read',
    "          secrets: '*' # or one a line: NAME, or ENV_NAME=NAME",
    '      # Your steps here: every secret is in their environment, masked as *** in the log.',
    '      - run: echo "Pulled ${{ steps.egg.outputs.secret-names }}"',
    '',
  ].join('\n');
}

/** A branch or environment name as a YAML scalar: plain when safe, else double-quoted. */
function yamlScalar(value: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(value) && !/^(true|false|yes|no|on|off|null|~)$/i.test(value)
    ? value
    : JSON.stringify(value);
}

export type FileAction = 'create' | 'update' | 'unchanged' | 'keep';

export interface WorkflowPlan {
  /** Relative to the repository root. */
  path: string;
  absolutePath: string;
  /** `keep`: the file exists and differs, and `force` was not given, so it is left alone. */
  action: FileAction;
  content: string;
  /** ` `/`-`/`+` lines from the current file (empty for `create`: all of `content` is new). */
  diff: string[];
}

/** What writing `content` at `path` under `root` would do. */
export function planWorkflow(root: string, content: string, options: { force: boolean }): WorkflowPlan {
  const absolutePath = join(root, WORKFLOW_PATH);
  let current: string | undefined;
  try {
    if (lstatSync(absolutePath).isSymbolicLink()) {
      throw new EggError('ERR_USAGE', `${WORKFLOW_PATH} is a symlink; refusing to write through it`);
    }
    current = readFileSync(absolutePath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const plan = { path: WORKFLOW_PATH, absolutePath, content };
  if (current === undefined) return { ...plan, action: 'create', diff: lineDiff('', content) };
  if (current === content) return { ...plan, action: 'unchanged', diff: [] };
  return { ...plan, action: options.force ? 'update' : 'keep', diff: lineDiff(current, content) };
}

/** Carry out a plan: the file is replaced atomically, mode 0644, never through a symlink. */
export function writeWorkflow(plan: WorkflowPlan): void {
  if (plan.action !== 'create' && plan.action !== 'update') return;
  mkdirSync(dirname(plan.absolutePath), { recursive: true });
  const tmp = join(dirname(plan.absolutePath), `.egg.yml.${randomBytes(6).toString('hex')}.tmp`);
  writeFileSync(tmp, plan.content, { mode: 0o644, flag: 'wx' });
  try {
    chmodSync(tmp, 0o644); // whatever the umask: a workflow is a public part of the repository
    renameSync(tmp, plan.absolutePath);
  } catch (error) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw error;
  }
}
