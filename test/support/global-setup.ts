/**
 * vitest globalSetup: starts the loopback services the integration suites share, once per
 * run, and stops them at teardown (and, through service.ts, whenever this process dies).
 *
 * - DynamoDB Local (fetched and cached by dynamodb-local.ts), in memory, on 127.0.0.1;
 * - moto_server (KMS, STS) on 127.0.0.1.
 *
 * Tests read the endpoints with `inject('aws')` (see aws.ts, which also points the SDK at
 * them through `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_KMS`). The same variables
 * and fake credentials are set in this process's environment, so child processes of e2e
 * tests inherit them. `EGG_TEST_SERVICES=0` skips both (unit tests need neither).
 */
import type { TestProject } from 'vitest/node';
import { type RunningService, startDynamoDbLocal } from './dynamodb-local.js';
import { startMoto } from './moto.js';

export interface AwsEndpoints {
  dynamodb: string;
  moto: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    aws: AwsEndpoints | null;
  }
}

/** Fake credentials and region: DynamoDB Local and moto accept anything, real AWS nothing. */
export const FAKE_AWS_ENV = {
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
} as const;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.EGG_TEST_SERVICES === '0') {
    project.provide('aws', null);
    return async () => {};
  }
  const started = await Promise.allSettled([startDynamoDbLocal(), startMoto()]);
  const running = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const stop = async () => {
    await Promise.all(running.map(({ service }) => service.stop()));
  };
  const failed = started.find((result) => result.status === 'rejected');
  if (failed !== undefined) {
    await stop();
    throw (failed as PromiseRejectedResult).reason;
  }
  const [dynamodb, moto] = running as [RunningService, RunningService];
  const endpoints = { dynamodb: dynamodb.endpoint, moto: moto.endpoint };
  Object.assign(process.env, FAKE_AWS_ENV, {
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_KMS: endpoints.moto,
    AWS_ENDPOINT_URL_STS: endpoints.moto,
  });
  project.provide('aws', endpoints);
  return stop;
}
