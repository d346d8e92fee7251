/**
 * `npm run synth`: synthesize the Egg Carton stack into a cloud assembly, offline.
 *
 *   npm run synth -- [--grants infra/grants.json] [--out build/cdk.out] [--table NAME]
 *     [--stack-name EggCarton] [--oidc-provider-arn ARN] [--audience AUD]
 *     [--key-admin ARN]… [--key-user ARN]… [--keyring kms|kms-hierarchical]
 *     [--rotator-code DIR] [--rotator-concurrency N|none] [--pitr-days 1-35] [--cloudtrail]
 *     [--proxy (--proxy-certificate-arn ARN | --allow-plain-http) [--proxy-desired-count N]]
 *     [--cognito-domain-prefix PREFIX [--cognito-redirect-port N]
 *       [--google-client-id ID --google-client-secret-name SECRETS_MANAGER_NAME]]
 *     [--service [--service-audience AUD] [--service-rate N --service-burst N]
 *                [--service-sub-rate N --service-sub-burst N] [--service-code DIR]]
 *
 * The rotator's bundle must exist (`npm run package` writes dist/rotator/). Deploy the
 * result with `npx aws-cdk@2 deploy --app build/cdk.out` after a one-time `cdk bootstrap`
 * (docs/deploy.md).
 */
import { parseArgs } from 'node:util';
import { EggError, isEggError } from '../src/errors.js';
import { buildStack } from './app.js';
import type { StackKeyring } from './rotator.js';

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
      keyring: { type: 'string' },
      'rotator-code': { type: 'string' },
      'rotator-concurrency': { type: 'string' },
      'pitr-days': { type: 'string' },
      cloudtrail: { type: 'boolean' },
      proxy: { type: 'boolean' },
      'proxy-certificate-arn': { type: 'string' },
      'allow-plain-http': { type: 'boolean' },
      'proxy-desired-count': { type: 'string' },
      'cognito-domain-prefix': { type: 'string' },
      'cognito-redirect-port': { type: 'string' },
      'google-client-id': { type: 'string' },
      'google-client-secret-name': { type: 'string' },
      service: { type: 'boolean' },
      'service-audience': { type: 'string' },
      'service-rate': { type: 'string' },
      'service-burst': { type: 'string' },
      'service-sub-rate': { type: 'string' },
      'service-sub-burst': { type: 'string' },
      'service-code': { type: 'string' },
    },
    strict: true,
  });
  const outdir = values.out ?? process.env.CDK_OUTDIR ?? 'build/cdk.out';
  const { keyring } = values;
  if (keyring !== undefined && keyring !== 'kms' && keyring !== 'kms-hierarchical')
    throw usage(`--keyring must be "kms" or "kms-hierarchical" (got "${keyring}")`);
  const concurrency = values['rotator-concurrency'];
  const desiredCount = values['proxy-desired-count'];
  const proxyOnly = ['proxy-certificate-arn', 'allow-plain-http', 'proxy-desired-count'] as const;
  for (const flag of proxyOnly)
    if (values[flag] !== undefined && values.proxy !== true) throw usage(`--${flag} needs --proxy`);
  const prefix = values['cognito-domain-prefix'];
  const cognitoOnly = ['cognito-redirect-port', 'google-client-id', 'google-client-secret-name'] as const;
  for (const flag of cognitoOnly)
    if (values[flag] !== undefined && prefix === undefined)
      throw usage(`--${flag} needs --cognito-domain-prefix`);
  const googleId = values['google-client-id'];
  const googleSecret = values['google-client-secret-name'];
  if ((googleId === undefined) !== (googleSecret === undefined))
    throw usage('--google-client-id and --google-client-secret-name go together');
  const serviceOnly = [
    'service-audience',
    'service-rate',
    'service-burst',
    'service-sub-rate',
    'service-sub-burst',
    'service-code',
  ] as const;
  for (const flag of serviceOnly)
    if (values[flag] !== undefined && values.service !== true) throw usage(`--${flag} needs --service`);
  const rate = values['service-rate'];
  const burst = values['service-burst'];
  if ((rate === undefined) !== (burst === undefined))
    throw usage('--service-rate and --service-burst go together');
  const subRate = values['service-sub-rate'];
  const subBurst = values['service-sub-burst'];
  if ((subRate === undefined) !== (subBurst === undefined))
    throw usage('--service-sub-rate and --service-sub-burst go together');
  const redirectPort = values['cognito-redirect-port'];
  const pitrDays = values['pitr-days'];
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
    ...(keyring === undefined ? {} : { keyring: keyring as StackKeyring }),
    ...(values['rotator-code'] === undefined ? {} : { rotatorCodePath: values['rotator-code'] }),
    ...(concurrency === undefined
      ? {}
      : {
          rotatorReservedConcurrency:
            concurrency === 'none' ? false : wholeNumber(concurrency, '--rotator-concurrency', 1),
        }),
    ...(pitrDays === undefined
      ? {}
      : { pointInTimeRecoveryDays: wholeNumber(pitrDays, '--pitr-days', 1, 35) }),
    ...(values.cloudtrail === true ? { cloudTrail: true } : {}),
    ...(values.proxy === true
      ? {
          proxy: {
            enabled: true,
            ...(values['proxy-certificate-arn'] === undefined
              ? {}
              : { certificateArn: values['proxy-certificate-arn'] }),
            ...(values['allow-plain-http'] === true ? { allowPlainHttp: true } : {}),
            ...(desiredCount === undefined
              ? {}
              : { desiredCount: wholeNumber(desiredCount, '--proxy-desired-count', 0) }),
          },
        }
      : {}),
    ...(prefix === undefined
      ? {}
      : {
          loginPool: {
            domainPrefix: prefix,
            ...(redirectPort === undefined
              ? {}
              : { redirectPort: wholeNumber(redirectPort, '--cognito-redirect-port', 1) }),
            ...(googleId === undefined || googleSecret === undefined
              ? {}
              : { google: { clientId: googleId, clientSecretName: googleSecret } }),
          },
        }),
    ...(values.service === true
      ? {
          service: {
            ...(values['service-audience'] === undefined
              ? {}
              : { githubAudience: values['service-audience'] }),
            ...(rate === undefined || burst === undefined
              ? {}
              : {
                  throttle: {
                    rateLimit: wholeNumber(rate, '--service-rate', 1),
                    burstLimit: wholeNumber(burst, '--service-burst', 1),
                  },
                }),
            ...(subRate === undefined || subBurst === undefined
              ? {}
              : {
                  callLimit: {
                    rps: wholeNumber(subRate, '--service-sub-rate', 1),
                    burst: wholeNumber(subBurst, '--service-sub-burst', 1),
                  },
                }),
            ...(values['service-code'] === undefined ? {} : { codePath: values['service-code'] }),
          },
        }
      : {}),
  });
  const assembly = app.synth();
  const template = assembly.getStackByName(stack.stackName).templateFullPath;
  process.stdout.write(
    `synthesized ${stack.stackName} with ${stack.roles.size} grant role(s): ${template}\n`,
  );
  if (stack.proxy !== undefined && !stack.proxy.https)
    process.stderr.write(
      'warning: --allow-plain-http: the proxy has no certificate, so its load balancer speaks plain HTTP and egg tokens cross the network unencrypted; pass --proxy-certificate-arn instead (docs/proxy-runtime.md)\n',
    );
}

function wholeNumber(text: string, flag: string, min: number, max?: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || (max !== undefined && value > max))
    throw usage(
      max === undefined
        ? `${flag} must be a whole number ≥ ${min} (got "${text}")`
        : `${flag} must be a whole number from ${min} to ${max} (got "${text}")`,
    );
  return value;
}

function usage(message: string): EggError {
  return new EggError('ERR_USAGE', message, { hint: 'see docs/deploy.md, "Step by step"' });
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
