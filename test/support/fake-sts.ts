/**
 * A loopback STS for `AssumeRoleWithWebIdentity`, speaking the real Query/XML protocol
 * (STS API Reference): form-encoded POST in, `AssumeRoleWithWebIdentityResponse` or
 * `ErrorResponse` XML out. Unlike moto, it does what IAM does with the token: verifies its
 * RS256 signature against the registered OIDC provider's JWKS, checks the provider's
 * audience list, and evaluates the role's trust: its condition on `sub` (StringLike) and
 * `aud` (StringEquals), or a whole trust policy document (e.g. one synthesized by infra/),
 * evaluated by the independent IAM evaluator in iam-policy.ts with the token's `sub` and
 * `aud` as `<provider>:sub` and `<provider>:aud`. It refuses with AWS's own codes and messages.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, decodeJwt, errors, jwtVerify } from 'jose';
import { evaluateWebIdentityTrust, type IntrinsicResolver, type Policy } from './iam-policy.js';

export interface FakeOidcProvider {
  issuer: string;
  jwksUrl: string;
  /** The provider's client-id list: a token's `aud` must be one of them. */
  audiences: string[];
}

export interface FakeRole {
  arn: string;
  /** StringLike patterns for `<provider>:sub` (`*` and `?` wildcards); any may match. */
  sub?: string[];
  /** StringEquals for `<provider>:aud`. */
  aud?: string;
  /** A trust policy document instead of `sub` and `aud`, with a resolver for its intrinsics. */
  trustPolicy?: { policy: Policy; resolve?: IntrinsicResolver };
  maxSessionDuration?: number;
}

/** The IAM OIDC provider ARN STS sees for an issuer (account 123456789012, as every fake here). */
export function providerArnOf(issuer: string): string {
  return `arn:aws:iam::123456789012:oidc-provider/${issuer.replace(/^https:\/\//, '')}`;
}

export interface FakeStsCall {
  roleArn: string;
  sessionName: string;
  durationSeconds: number;
  /** 'ok', or the error code answered. */
  outcome: string;
}

export interface FakeSts {
  endpoint: string;
  calls: FakeStsCall[];
  /** Credentials handed out, in order (to check where they end up). */
  issued: { accessKeyId: string; secretAccessKey: string; sessionToken: string }[];
  /** Answer the next `count` calls with this error before evaluating again. */
  failNext(count: number, status: number, code: string): void;
  close(): Promise<void>;
}

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

// Fields spelled out, not parameter properties: the benchmark loads this file with Node's
// type stripping, which does not support them.
class StsFault extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function startFakeSts(options: {
  providers: FakeOidcProvider[];
  roles: FakeRole[];
  /** The clock for token checks and credential expiry (a test's injected clock); `Date.now` by default. */
  now?: () => number;
}): Promise<FakeSts> {
  const now = options.now ?? Date.now;
  const calls: FakeStsCall[] = [];
  const issued: FakeSts['issued'] = [];
  let failures: { status: number; code: string }[] = [];
  const keySets = new Map(options.providers.map((p) => [p.issuer, createRemoteJWKSet(new URL(p.jwksUrl))]));

  const assume = async (params: URLSearchParams) => {
    for (const name of ['RoleArn', 'RoleSessionName', 'WebIdentityToken']) {
      if (!params.get(name))
        throw new StsFault(400, 'MissingParameter', `The request must contain the parameter ${name}`);
    }
    const roleArn = params.get('RoleArn') as string;
    const sessionName = params.get('RoleSessionName') as string;
    const token = params.get('WebIdentityToken') as string;
    const duration = Number(params.get('DurationSeconds') ?? 3600);
    if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) {
      throw new StsFault(
        400,
        'ValidationError',
        `1 validation error detected: Value '${sessionName}' at 'roleSessionName' failed to satisfy constraint`,
      );
    }
    let unverified: ReturnType<typeof decodeJwt>;
    try {
      unverified = decodeJwt(token);
    } catch {
      throw new StsFault(
        400,
        'InvalidIdentityToken',
        'The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)',
      );
    }
    const provider = options.providers.find((p) => p.issuer === unverified.iss);
    const keySet = provider === undefined ? undefined : keySets.get(provider.issuer);
    if (provider === undefined || keySet === undefined) {
      throw new StsFault(
        400,
        'InvalidIdentityToken',
        `No OpenIDConnect provider found in your account for ${unverified.iss}`,
      );
    }
    let claims: Awaited<ReturnType<typeof jwtVerify>>['payload'];
    try {
      ({ payload: claims } = await jwtVerify(token, keySet, {
        issuer: provider.issuer,
        algorithms: ['RS256'],
        currentDate: new Date(now()),
      }));
    } catch (error) {
      if (error instanceof errors.JWTExpired) {
        throw new StsFault(
          400,
          'ExpiredTokenException',
          'Token expired: current date/time must be before the expiration date/time',
        );
      }
      throw new StsFault(
        400,
        'InvalidIdentityToken',
        'The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.',
      );
    }
    const aud = typeof claims.aud === 'string' ? claims.aud : undefined;
    if (aud === undefined || !provider.audiences.includes(aud)) {
      throw new StsFault(400, 'InvalidIdentityToken', 'Incorrect token audience');
    }
    const role = options.roles.find((r) => r.arn === roleArn);
    const sub = typeof claims.sub === 'string' ? claims.sub : '';
    if (role === undefined || !trusts(role, provider.issuer, sub, aud)) {
      throw new StsFault(403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    }
    if (!(duration >= 900 && duration <= (role.maxSessionDuration ?? 3600))) {
      throw new StsFault(
        400,
        'ValidationError',
        'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.',
      );
    }
    const account = roleArn.split(':')[4];
    const roleName = roleArn
      .slice(roleArn.indexOf(':role/') + 6)
      .split('/')
      .pop();
    const credentials = {
      accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: `FwoGZXIvYXdzE${randomBytes(96).toString('base64')}`,
    };
    issued.push(credentials);
    const expiration = new Date(now() + duration * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return `<AssumeRoleWithWebIdentityResponse xmlns="${NS}">
  <AssumeRoleWithWebIdentityResult>
    <Audience>${escapeXml(aud)}</Audience>
    <AssumedRoleUser>
      <AssumedRoleId>AROA${randomBytes(8).toString('hex').toUpperCase()}:${escapeXml(sessionName)}</AssumedRoleId>
      <Arn>arn:aws:sts::${account}:assumed-role/${escapeXml(roleName ?? '')}/${escapeXml(sessionName)}</Arn>
    </AssumedRoleUser>
    <Provider>${escapeXml(provider.issuer.replace(/^https:\/\//, ''))}</Provider>
    <Credentials>
      <AccessKeyId>${credentials.accessKeyId}</AccessKeyId>
      <SecretAccessKey>${escapeXml(credentials.secretAccessKey)}</SecretAccessKey>
      <SessionToken>${escapeXml(credentials.sessionToken)}</SessionToken>
      <Expiration>${expiration}</Expiration>
    </Credentials>
    <SubjectFromWebIdentityToken>${escapeXml(sub)}</SubjectFromWebIdentityToken>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>${randomUUID()}</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
`;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const call: FakeStsCall = {
      roleArn: params.get('RoleArn') ?? '',
      sessionName: params.get('RoleSessionName') ?? '',
      durationSeconds: Number(params.get('DurationSeconds') ?? 3600),
      outcome: 'ok',
    };
    calls.push(call);
    try {
      if (
        req.method !== 'POST' ||
        !String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')
      ) {
        throw new StsFault(400, 'InvalidAction', 'Could not find operation for the request');
      }
      if (params.get('Action') !== 'AssumeRoleWithWebIdentity' || params.get('Version') !== '2011-06-15') {
        throw new StsFault(
          400,
          'InvalidAction',
          `Could not find operation ${params.get('Action')} for version ${params.get('Version')}`,
        );
      }
      const failure = failures.shift();
      if (failure !== undefined) throw new StsFault(failure.status, failure.code, 'fake failure');
      const body = await assume(params);
      res.writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() }).end(body);
    } catch (error) {
      const fault =
        error instanceof StsFault ? error : new StsFault(500, 'InternalFailure', 'internal failure');
      call.outcome = fault.code;
      res.writeHead(fault.status, { 'content-type': 'text/xml' }).end(`<ErrorResponse xmlns="${NS}">
  <Error>
    <Type>${fault.status >= 500 ? 'Receiver' : 'Sender'}</Type>
    <Code>${fault.code}</Code>
    <Message>${escapeXml(fault.message)}</Message>
  </Error>
  <RequestId>${randomUUID()}</RequestId>
</ErrorResponse>
`);
    }
  };

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    issued,
    failNext: (count, status, code) => {
      failures = [...failures, ...Array.from({ length: count }, () => ({ status, code }))];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Whether `role` trusts a token from `issuer` with this `sub` and `aud`. */
function trusts(role: FakeRole, issuer: string, sub: string, aud: string): boolean {
  if (role.trustPolicy !== undefined) {
    const host = issuer.replace(/^https:\/\//, '');
    const decision = evaluateWebIdentityTrust(
      role.trustPolicy.policy,
      {
        roleArn: role.arn,
        providerArn: providerArnOf(issuer),
        context: { [`${host}:sub`]: sub, [`${host}:aud`]: aud },
      },
      { resolve: role.trustPolicy.resolve },
    );
    return decision.decision === 'allow';
  }
  return aud === role.aud && (role.sub ?? []).some((pattern) => stringLike(pattern, sub));
}

/** IAM's StringLike: `*` any run of characters, `?` one character, everything else literal. */
export function stringLike(pattern: string, value: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.');
  return new RegExp(`^${regex}$`, 's').test(value);
}

function escapeXml(text: string): string {
  return text.replace(
    /[<>&'"]/g,
    (c) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', "'": 'apos', '"': 'quot' }[c]};`,
  );
}
