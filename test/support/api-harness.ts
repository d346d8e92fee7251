/**
 * The API as its tests run it: a local vault in a temporary EGG_HOME (or a DynamoDB Local
 * table), two loopback issuers (people, found by discovery; GitHub Actions, at a given JWKS
 * URI), every handler wrapped to count its calls, and `egg api serve`'s server on 127.0.0.1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Handler } from '../../src/api/handlers.js';
import { handlers } from '../../src/api/handlers.js';
import { issuerSetting } from '../../src/api/jwt.js';
import { GITHUB_ISSUER } from '../../src/api/principal.js';
import type { RouteName } from '../../src/api/routes.js';
import { serveApi } from '../../src/api/serve.js';
import { type ApiService, openApiService } from '../../src/api/service.js';
import type { CallLimit } from '../../src/api/throttle.js';
import { type EggConfig, resolveConfig } from '../../src/config.js';
import type { AuditRecord } from '../../src/stores/store.js';
import { createTestKmsKey, createTestTable, useTestAws } from './aws.js';
import { type FakeJwks, startFakeJwks } from './fake-jwks.js';

/** The people issuer's client id (a Cognito app client's, as `aud` of its ID tokens). */
export const PEOPLE_AUDIENCE = 'egg-cli';
/** The audience CI jobs ask GitHub for. */
export const GITHUB_AUDIENCE = 'https://egg.example.com';

/** An answer's JSON, read loosely: the tests check its fields. */
export type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface ApiHarness {
  url: string;
  people: FakeJwks;
  github: FakeJwks;
  service: ApiService;
  config: EggConfig;
  /** Calls of each handler so far. */
  calls: Map<RouteName, number>;
  /** A person's ID token. */
  person(sub: string, claims?: Record<string, unknown>): Promise<string>;
  /** A GitHub Actions job's token with GitHub's claims over these. */
  job(claims: Record<string, unknown>): Promise<string>;
  /** One request: JSON in and out. */
  call(
    token: string | undefined,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: Json; headers: Headers }>;
  /** The trail of `namespace` (or the service's, `@api`), read from the store. */
  audit(namespace: string): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

export interface ApiHarnessOptions {
  config?: EggConfig;
  /** The limit per caller: none unless given (the suites that test other things call fast). */
  callLimit?: CallLimit;
  clock?: () => Date;
}

export async function startApiHarness(options: ApiHarnessOptions = {}): Promise<ApiHarness> {
  const home = mkdtempSync(join(tmpdir(), 'egg-api-'));
  const config = options.config ?? resolveConfig({ env: { EGG_HOME: home }, home, cwd: home });
  const people = await startFakeJwks();
  const github = await startFakeJwks({ issuer: GITHUB_ISSUER });
  const calls = new Map<RouteName, number>();
  const counted = Object.fromEntries(
    Object.entries(handlers).map(([name, handler]) => [
      name,
      ((context, call) => {
        calls.set(name as RouteName, (calls.get(name as RouteName) ?? 0) + 1);
        return handler(context, call);
      }) satisfies Handler,
    ]),
  ) as Record<RouteName, Handler>;
  const service = await openApiService(config, {
    issuers: [
      issuerSetting(people.issuer, [PEOPLE_AUDIENCE]),
      issuerSetting('github', [GITHUB_AUDIENCE], github.jwksUri),
    ],
    handlers: counted,
    callLimit: options.callLimit ?? false,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  const server = await serveApi(service.api, { port: 0 });
  return {
    url: server.url,
    people,
    github,
    service,
    config,
    calls,
    person: (sub, claims = {}) => people.sign({ sub, aud: PEOPLE_AUDIENCE, token_use: 'id', ...claims }),
    job: (claims) => github.sign({ ...githubJob(), aud: GITHUB_AUDIENCE, ...claims }),
    call: async (token, method, path, body) => {
      const headers: Record<string, string> = {};
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return {
        status: response.status,
        body: text === '' ? undefined : JSON.parse(text),
        headers: response.headers,
      };
    },
    audit: (namespace) => service.backend.store.readAudit(namespace),
    close: async () => {
      await server.close();
      await service.close();
      await Promise.all([people.close(), github.close()]);
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** The harness on a fresh DynamoDB Local table and moto KMS key (the `aws` backend). */
export async function startAwsApiHarness(
  options: Omit<ApiHarnessOptions, 'config'> = {},
): Promise<ApiHarness> {
  useTestAws();
  const [table, key] = await Promise.all([createTestTable('egg-api'), createTestKmsKey()]);
  const home = mkdtempSync(join(tmpdir(), 'egg-api-aws-'));
  const env = {
    EGG_BACKEND: 'aws',
    EGG_TABLE: table,
    EGG_KMS_KEY_ID: key,
    AWS_REGION: 'us-east-1',
    EGG_HOME: home,
  };
  const harness = await startApiHarness({ ...options, config: resolveConfig({ env, home, cwd: home }) });
  return {
    ...harness,
    close: async () => {
      await harness.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** GitHub's claims for a push to main of acme/web, name-only `sub`. */
export function githubJob(): Record<string, unknown> {
  return {
    sub: 'repo:acme/web:ref:refs/heads/main',
    repository: 'acme/web',
    repository_owner: 'acme',
    repository_owner_id: '1001',
    repository_id: '2002',
    ref: 'refs/heads/main',
    run_id: '4242',
  };
}
