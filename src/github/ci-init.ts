/**
 * `egg ci init`: the plan (the workflow file to create or update, and each repository
 * variable to create, update or leave, and the exact `sub` its job will present with the
 * grant that matches it), and carrying it out. Planning only reads, from git and from
 * GitHub, so the dry run that is the default changes nothing anywhere.
 */
import { EggError } from '../errors.js';
import { isNamespace } from '../names.js';
import { type SubjectForm, subjectPrefix } from '../subjects.js';
import {
  type GrantEntry,
  grantFor,
  isEnterpriseServer,
  readRepository,
  readSubjectSettings,
  type SubjectSetting,
  subjectSetting,
} from './oidc-subject.js';
import {
  apiBaseUrl,
  type Git,
  gitTopLevel,
  originRepository,
  parseRepository,
  runGit,
} from './repository.js';
import {
  applyVariables,
  createGitHubClient,
  type GitHubClient,
  optionalToken,
  planVariables,
  tokenFromEnv,
  type VariableChange,
} from './variables.js';
import {
  planWorkflow,
  qualifierFor,
  renderWorkflow,
  subjectFor,
  type WorkflowPlan,
  writeWorkflow,
} from './workflow.js';

/** The values the workflow reads from `vars.*`, by variable name. */
export interface VariableValues {
  EGG_ROLE_ARN?: string | undefined;
  EGG_NAMESPACE?: string | undefined;
  EGG_TABLE?: string | undefined;
  AWS_REGION?: string | undefined;
  EGG_KMS_KEY_ID?: string | undefined;
}

export interface CiInitOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** `OWNER/NAME`; otherwise parsed from `git remote get-url origin`. */
  repo?: string | undefined;
  values: VariableValues;
  /** The job's deployment environment, if any. */
  environment?: string | undefined;
  /** The branch that triggers the workflow; the repository's default branch otherwise. */
  branch?: string | undefined;
  /** Replace an existing workflow file that differs. */
  force: boolean;
  /** The plan is to be applied: a GitHub token is required (a dry run can do without one). */
  apply?: boolean;
  /** The form of the job's `sub`, when the caller knows it (else GitHub's OIDC settings say). */
  subjectForm?: SubjectForm | undefined;
  git?: Git;
  userAgent?: string;
}

export interface CiInitPlan {
  repository: string;
  repositorySource: '--repo' | 'git remote origin';
  /** The OIDC subject the role's trust policy must allow for this workflow: exactly what the job presents. */
  subject: string;
  subjectForm: SubjectForm;
  /** How the form is known, e.g. "the repository’s OIDC settings say so", or what was assumed. */
  subjectSource: string;
  /** The owner's and the repository's ids. */
  ids: { owner: string; repository: string };
  /** The grants-file entry that matches `subject`. */
  grant: GrantEntry;
  workflow: WorkflowPlan;
  variables: VariableChange[];
}

/** Where each value comes from when it is missing, for the error that lists them. */
const SOURCES: Record<keyof VariableValues, string> = {
  EGG_ROLE_ARN: '--role-arn (or EGG_ROLE_ARN)',
  EGG_NAMESPACE: '--namespace (or EGG_NAMESPACE)',
  EGG_TABLE: '--table (or EGG_TABLE)',
  AWS_REGION: '--region (or AWS_REGION)',
  EGG_KMS_KEY_ID: '--kms-key-id (or EGG_KMS_KEY_ID)',
};

/** The same rules the Action applies to its inputs (src/action/inputs.ts). */
const RULES: Record<keyof VariableValues, [(value: string) => boolean, string]> = {
  EGG_ROLE_ARN: [
    (v) => /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/.test(v),
    'an IAM role ARN (arn:aws:iam::123456789012:role/name)',
  ],
  EGG_NAMESPACE: [isNamespace, 'a namespace of 1 to 3 segments of [a-z0-9._-]'],
  EGG_TABLE: [(v) => /^[A-Za-z0-9_.-]{3,255}$/.test(v), 'a DynamoDB table name'],
  AWS_REGION: [(v) => /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(v), 'an AWS region such as us-east-1'],
  EGG_KMS_KEY_ID: [
    (v) => /^[A-Za-z0-9:/_.=+@-]{1,2048}$/.test(v),
    'a KMS key id, key ARN, alias name or alias ARN',
  ],
};

/** The variables to set, in a fixed order; every one is required and checked. */
export function desiredVariables(values: VariableValues): { name: string; value: string }[] {
  const names = Object.keys(SOURCES) as (keyof VariableValues)[];
  const missing = names.filter((name) => !values[name]);
  if (missing.length > 0) {
    throw new EggError('ERR_USAGE', `egg ci init needs ${missing.map((name) => SOURCES[name]).join(', ')}`, {
      hint: 'these become the repository variables the workflow reads',
    });
  }
  return names.map((name) => {
    const value = values[name] as string;
    const [rule, allowed] = RULES[name];
    if (!rule(value)) {
      throw new EggError('ERR_USAGE', `${SOURCES[name]} is "${value}"; it must be ${allowed}`);
    }
    return { name, value };
  });
}

/** Work out every change without making any. Needs a token: it reads the current variables. */
export async function planCiInit(
  options: CiInitOptions,
): Promise<{ plan: CiInitPlan; client: GitHubClient }> {
  const desired = desiredVariables(options.values);
  const token = options.apply === true ? tokenFromEnv(options.env) : optionalToken(options.env);
  const git = options.git ?? runGit;
  const root = await gitTopLevel(options.cwd, git);
  const repository =
    options.repo === undefined ? await originRepository(root, git) : parseRepository(options.repo);
  const slug = `${repository.owner}/${repository.repo}`;
  const baseUrl = apiBaseUrl(repository, options.env);
  const client = await createGitHubClient(repository, token, {
    baseUrl,
    userAgent: options.userAgent ?? 'eggcarton-cli',
  });
  const { subjectForm } = options;
  const [facts, settings, variables] = await Promise.all([
    readRepository(client),
    subjectForm === undefined ? readSubjectSettings(client) : undefined,
    planVariables(client, desired),
  ]);
  const enterpriseServer = isEnterpriseServer(baseUrl);
  const setting: SubjectSetting =
    settings === undefined
      ? { form: subjectForm ?? 'name-only', source: `--${subjectForm}-subject says so` }
      : subjectSetting(settings, facts, enterpriseServer);
  const workflowOptions = {
    repository: slug,
    branch: options.branch ?? facts.defaultBranch,
    ...(options.environment === undefined ? {} : { environment: options.environment }),
    subjectPrefix: subjectPrefix(facts, setting.form),
  };
  const workflow = planWorkflow(root, renderWorkflow(workflowOptions), { force: options.force });
  const namespace = desired.find((v) => v.name === 'EGG_NAMESPACE')?.value as string;
  return {
    plan: {
      repository: slug,
      repositorySource: options.repo === undefined ? 'git remote origin' : '--repo',
      subject: subjectFor(workflowOptions),
      subjectForm: setting.form,
      subjectSource: setting.source,
      ids: { owner: facts.ownerId, repository: facts.repoId },
      grant: grantFor(namespace, facts, qualifierFor(workflowOptions), setting, enterpriseServer),
      workflow,
      variables,
    },
    client,
  };
}

/** Carry out a plan: the variables first (the step a permission can refuse), then the file. */
export async function applyCiInit(plan: CiInitPlan, client: GitHubClient): Promise<void> {
  await applyVariables(client, plan.variables);
  writeWorkflow(plan.workflow);
}
