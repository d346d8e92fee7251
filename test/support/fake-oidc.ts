/**
 * A loopback stand-in for the runner's OIDC token service (ACTIONS_ID_TOKEN_REQUEST_URL):
 * it checks the bearer ACTIONS_ID_TOKEN_REQUEST_TOKEN, reads the `audience` query
 * parameter and answers `{"value": "<jwt>"}` with an RS256 token carrying GitHub's claim
 * set ("About security hardening with OpenID Connect", GitHub Docs). It also serves its
 * JWKS and discovery document, which the fake STS verifies tokens against.
 *
 * The `sub` comes in either of GitHub's default forms ("OpenID Connect reference", "Immutable
 * subject claims"): name-only, `repo:acme/web:ref:refs/heads/main`, or immutable,
 * `repo:acme@1001/web@2002:ref:refs/heads/main`, built from the token's own `repository`,
 * `repository_owner`, `repository_owner_id`, `repository_id`, `environment` and `ref` claims
 * as GitHub builds it, unless a test sets `sub` itself.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';

/** GitHub's two default `sub` forms: without and with the owner's and repository's ids. */
export type FakeSubjectForm = 'name-only' | 'immutable';

export interface FakeOidcOptions {
  /** Claims that replace (or, when undefined, remove) the defaults. */
  claims?: Record<string, unknown>;
  /** The form of `sub` when the claims do not set it; name-only by default. */
  subjectForm?: FakeSubjectForm;
  /** The `iss` claim; GitHub's by default (the fake STS is told where this fake's JWKS is). */
  issuer?: string;
  lifetimeSeconds?: number;
}

export interface FakeOidc {
  /** For ACTIONS_ID_TOKEN_REQUEST_URL: carries a query, as the runner's does. */
  requestUrl: string;
  /** For ACTIONS_ID_TOKEN_REQUEST_TOKEN. */
  requestToken: string;
  issuer: string;
  jwksUrl: string;
  /** Every request, in order: its audience and the status answered. */
  requests: { audience: string | null; status: number }[];
  /** Change the claims of tokens minted from now on. */
  setClaims(claims: Record<string, unknown>): void;
  /** Change the form of `sub` of tokens minted from now on (when the claims do not set it). */
  setSubjectForm(form: FakeSubjectForm): void;
  /** Answer the next `count` requests with `status` (e.g. 503) before minting again. */
  failNext(count: number, status: number): void;
  /** Mint a token directly (for tests of the STS side). */
  mint(audience: string, claims?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

/**
 * The `sub` GitHub gives a job with these claims: `environment:<name>` when the job names
 * one, else `ref:<ref>`, after `repo:<owner>/<repo>`, with `@<id>` after each in the
 * immutable form.
 */
export function githubSubject(claims: Record<string, unknown>, form: FakeSubjectForm): string {
  const owner = String(claims.repository_owner);
  const repo = String(claims.repository).slice(owner.length + 1);
  const names =
    form === 'immutable'
      ? `${owner}@${String(claims.repository_owner_id)}/${repo}@${String(claims.repository_id)}`
      : `${owner}/${repo}`;
  const qualifier =
    typeof claims.environment === 'string' && claims.environment !== ''
      ? `environment:${claims.environment}`
      : `ref:${String(claims.ref)}`;
  return `repo:${names}:${qualifier}`;
}

/** GitHub's claims for a push to main of acme/web (run 4242, attempt 1). */
export function githubClaims(audience: string): Record<string, unknown> {
  return {
    jti: randomUUID(),
    sub: 'repo:acme/web:ref:refs/heads/main',
    aud: audience,
    ref: 'refs/heads/main',
    sha: '4f3ad1c0f1b2a3c4d5e6f708192a3b4c5d6e7f80',
    repository: 'acme/web',
    repository_owner: 'acme',
    repository_owner_id: '1001',
    repository_id: '2002',
    repository_visibility: 'private',
    run_id: '4242',
    run_number: '17',
    run_attempt: '1',
    actor: 'octocat',
    actor_id: '3003',
    workflow: 'ci',
    workflow_ref: 'acme/web/.github/workflows/ci.yml@refs/heads/main',
    workflow_sha: '4f3ad1c0f1b2a3c4d5e6f708192a3b4c5d6e7f80',
    job_workflow_ref: 'acme/web/.github/workflows/ci.yml@refs/heads/main',
    job_workflow_sha: '4f3ad1c0f1b2a3c4d5e6f708192a3b4c5d6e7f80',
    head_ref: '',
    base_ref: '',
    event_name: 'push',
    ref_type: 'branch',
    ref_protected: 'true',
    runner_environment: 'github-hosted',
  };
}

export async function startFakeOidc(options: FakeOidcOptions = {}): Promise<FakeOidc> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const kid = randomUUID();
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const requestToken = `fake-runner-${randomUUID()}`;
  const issuer = options.issuer ?? GITHUB_ISSUER;
  const lifetime = options.lifetimeSeconds ?? 300;
  let overrides = options.claims ?? {};
  let subjectForm = options.subjectForm ?? 'name-only';
  let failures: number[] = [];
  const requests: FakeOidc['requests'] = [];

  const mint = async (audience: string, claims: Record<string, unknown> = overrides) => {
    const body: Record<string, unknown> = { ...githubClaims(audience), ...claims };
    if (!('sub' in claims)) body.sub = githubSubject(body, subjectForm);
    for (const [key, value] of Object.entries(body)) if (value === undefined) delete body[key];
    const now = Math.floor(Date.now() / 1000);
    // Times given in `claims` win, so a test can mint an expired token.
    return new SignJWT({ iss: issuer, iat: now, nbf: now - 5, exp: now + lifetime, ...body })
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .sign(privateKey);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/jwks') return json(200, { keys: [jwk] });
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(200, {
        issuer,
        jwks_uri: `${base}/.well-known/jwks`,
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (url.pathname !== '/token' || req.method !== 'GET') return json(404, { message: 'not found' });
    const audience = url.searchParams.get('audience');
    const record = (status: number) => requests.push({ audience, status });
    if (req.headers.authorization !== `Bearer ${requestToken}`) {
      record(401);
      return json(401, { message: 'Unauthorized: bad runtime token' });
    }
    const failure = failures.shift();
    if (failure !== undefined) {
      record(failure);
      return json(failure, { message: 'fake failure' });
    }
    record(200);
    return json(200, { count: 1, value: await mint(audience ?? 'https://github.com/acme') });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    requestUrl: `${base}/token?api-version=2.0`,
    requestToken,
    issuer,
    jwksUrl: `${base}/.well-known/jwks`,
    requests,
    setClaims: (claims) => {
      overrides = claims;
    },
    setSubjectForm: (form) => {
      subjectForm = form;
    },
    failNext: (count, status) => {
      failures = [...failures, ...Array.from({ length: count }, () => status)];
    },
    mint: (audience, claims) => mint(audience, { ...overrides, ...claims }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
