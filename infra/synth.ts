/**
 * `npm run synth`: synthesize the Egg Carton stack into a cloud assembly, offline.
 *
 *   npm run synth -- [--grants infra/grants.json] [--out build/cdk.out] [--table NAME]
 *     [--stack-name EggCarton] [--oidc-provider-arn ARN] [--audience AUD]
 *     [--key-admin ARN]… [--key-user ARN]…
 *
 * Deploy the result with `npx aws-cdk@2 deploy --app build/cdk.out`, or the template alone
 * with `aws cloudformation deploy` (docs/deploy.md).
 */
import { parseArgs } from 'node:util';
import { isEggError } from '../src/errors.js';
import { buildStack } from './app.js';

function main(): void {
  const { values } = parseArgs({
    options: {
      grants: { type: 'string', default: new URL('grants.json', import.meta.url).pathname },
      out: { type: 'string' },
      table: { type: 'string' },
      'stack-name': { type: 'string' },
      'oidc-provider-arn': { type: 'string' },
      audience: { type: 'string' },
      'key-admin': { type: 'string', multiple: true },
      'key-user': { type: 'string', multiple: true },
    },
    strict: true,
  });
  const outdir = values.out ?? process.env.CDK_OUTDIR ?? 'build/cdk.out';
  const { app, stack } = buildStack({
    grantsFile: values.grants,
    outdir,
    ...(values.table === undefined ? {} : { tableName: values.table }),
    ...(values['stack-name'] === undefined ? {} : { stackName: values['stack-name'] }),
    ...(values['oidc-provider-arn'] === undefined
      ? {}
      : { githubOidcProviderArn: values['oidc-provider-arn'] }),
    ...(values.audience === undefined ? {} : { audience: values.audience }),
    ...(values['key-admin'] === undefined ? {} : { keyAdminArns: values['key-admin'] }),
    ...(values['key-user'] === undefined ? {} : { keyUserArns: values['key-user'] }),
  });
  const assembly = app.synth();
  const template = assembly.getStackByName(stack.stackName).templateFullPath;
  process.stdout.write(
    `synthesized ${stack.stackName} with ${stack.roles.size} grant role(s): ${template}\n`,
  );
}

try {
  main();
} catch (error) {
  if (process.env.EGG_DEBUG === '1') throw error;
  const message = error instanceof Error ? error.message : String(error);
  const hint = isEggError(error) && error.hint !== undefined ? `\n${error.hint}` : '';
  process.stderr.write(`error: ${message}${hint}\n`);
  process.exitCode = isEggError(error) ? 2 : 1;
}
