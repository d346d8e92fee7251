import { describe, expect, it } from 'vitest';
import { type ActionInputs, isApiUrl, readInputs } from '../../src/action/inputs.js';

const ROLE = 'arn:aws:iam::123456789012:role/egg-ci';
/** The minimum an `aws` step needs. */
const AWS = {
  'role-to-assume': ROLE,
  'aws-region': 'eu-west-1',
  table: 'egg-prod',
  'kms-key-id': 'alias/egg',
};
const LOCAL = { backend: 'local' };

const read = (inputs: Record<string, string>) => readInputs((name) => inputs[name] ?? '');

const AWS_DEFAULTS: ActionInputs = {
  backend: 'aws',
  roleToAssume: ROLE,
  awsRegion: 'eu-west-1',
  table: 'egg-prod',
  kmsKeyId: 'alias/egg',
  audience: 'sts.amazonaws.com',
  roleSessionDuration: 900,
  namespace: 'default',
  keyring: 'kms',
  rotation: 'inline',
  secrets: '*',
  exportEnv: true,
  outputs: false,
  maskEncodings: ['base64', 'url', 'json'],
  exportAwsCredentials: false,
  webIdentityTokenFile: false,
  expiryWarningDays: 14,
};

describe('readInputs', () => {
  it('fills every default for an aws step', () => {
    expect(read(AWS)).toEqual(AWS_DEFAULTS);
  });

  it('fills every default for a local step', () => {
    const { roleToAssume: _r, awsRegion: _a, table: _t, kmsKeyId: _k, ...rest } = AWS_DEFAULTS;
    expect(read(LOCAL)).toEqual({ ...rest, backend: 'local', keyring: 'local' });
  });

  it.each<[string, Record<string, string>, Partial<ActionInputs>]>([
    [
      'all settings',
      {
        ...AWS,
        audience: 'https://github.com/acme',
        'role-session-duration': '3600',
        table: 'egg-prod',
        'kms-key-id': 'alias/egg',
        namespace: 'acme/web/prod',
        keyring: 'kms-hierarchical',
        rotation: 'deferred',
        'export-env': 'false',
        outputs: 'true',
        'dotenv-file': 'app.env',
        'mask-encodings': 'json, base64,json',
        'web-identity-token-file': 'true',
      },
      {
        audience: 'https://github.com/acme',
        roleSessionDuration: 3600,
        table: 'egg-prod',
        kmsKeyId: 'alias/egg',
        namespace: 'acme/web/prod',
        keyring: 'kms-hierarchical',
        rotation: 'deferred',
        exportEnv: false,
        outputs: true,
        dotenvFile: 'app.env',
        maskEncodings: ['json', 'base64'],
        exportAwsCredentials: false,
        webIdentityTokenFile: true,
      },
    ],
    ['exported AWS keys', { ...AWS, 'export-aws-credentials': 'true' }, { exportAwsCredentials: true }],
    ['the longest session', { ...AWS, 'role-session-duration': '43200' }, { roleSessionDuration: 43_200 }],
    ['no mask encodings', { ...AWS, 'mask-encodings': 'none' }, { maskEncodings: [] }],
    [
      'named secrets and renames, comments and blank lines skipped',
      {
        ...AWS,
        secrets: 'DB_URL\n\n# the API key\nAPI_KEY = STRIPE_KEY\r\n  TLS_CERT  ',
      },
      {
        secrets: [
          { env: 'DB_URL', name: 'DB_URL' },
          { env: 'API_KEY', name: 'STRIPE_KEY' },
          { env: 'TLS_CERT', name: 'TLS_CERT' },
        ],
      },
    ],
    [
      'one secret under two names',
      { ...AWS, secrets: 'A=KEY\nB=KEY' },
      {
        secrets: [
          { env: 'A', name: 'KEY' },
          { env: 'B', name: 'KEY' },
        ],
      },
    ],
    ['an explicit star', { ...AWS, secrets: '*' }, { secrets: '*' }],
  ])('reads %s', (_label, inputs, expected) => {
    expect(read(inputs)).toEqual({ ...AWS_DEFAULTS, ...expected });
  });

  it('reads a local step with its vault directory', () => {
    expect(read({ ...LOCAL, 'egg-home': '/srv/egg', 'dotenv-file': '.env' })).toMatchObject({
      backend: 'local',
      keyring: 'local',
      eggHome: '/srv/egg',
      dotenvFile: '.env',
    });
  });

  it.each<[string, Record<string, string>, string]>([
    [
      'an expiry window that is not whole days',
      { ...AWS, 'expiry-warning-days': '2w' },
      'input "expiry-warning-days" is "2w"; it takes whole days from 0 to 3650 (0: warn only for expired secrets)',
    ],
    [
      'a yes for a boolean',
      { ...AWS, 'export-env': 'yes' },
      'input "export-env" is "yes"; it takes "true" or "false"',
    ],
    [
      'a capitalised boolean',
      { ...AWS, outputs: 'True' },
      'input "outputs" is "True"; it takes "true" or "false"',
    ],
    [
      'a 1 for a boolean',
      { ...AWS, 'export-aws-credentials': '1' },
      'input "export-aws-credentials" is "1"; it takes "true" or "false"',
    ],
    [
      'an unknown backend',
      { backend: 'gcp' },
      'input "backend" is "gcp"; it takes "aws" or "local" or "api"',
    ],
    [
      'aws without a role',
      { 'aws-region': 'us-east-1' },
      'input "role-to-assume" is required with backend "aws"; it takes an IAM role ARN',
    ],
    [
      'aws without a region',
      { 'role-to-assume': ROLE },
      'input "aws-region" is required with backend "aws"; it takes an AWS region such as us-east-1',
    ],
    [
      'aws without a table (refused before the OIDC token is asked for)',
      { 'role-to-assume': ROLE, 'aws-region': 'eu-west-1', 'kms-key-id': 'alias/egg' },
      'input "table" is required with backend "aws"; it takes the DynamoDB table\'s name: 3 to 255 letters, digits, "_", "-" or "."',
    ],
    [
      'aws without a KMS key',
      { 'role-to-assume': ROLE, 'aws-region': 'eu-west-1', table: 'egg-prod' },
      'input "kms-key-id" is required with backend "aws"; it takes the KMS key that wraps the data keys: a key id, key ARN, alias name or alias ARN',
    ],
    [
      'a role name instead of an ARN',
      { ...AWS, 'role-to-assume': 'egg-ci' },
      'input "role-to-assume" is "egg-ci"; it takes an IAM role ARN (arn:aws:iam::123456789012:role/name)',
    ],
    [
      'a user ARN',
      { ...AWS, 'role-to-assume': 'arn:aws:iam::123456789012:user/bob' },
      'input "role-to-assume" is "arn:aws:iam::123456789012:user/bob"; it takes an IAM role ARN (arn:aws:iam::123456789012:role/name)',
    ],
    [
      'a malformed region',
      { ...AWS, 'aws-region': 'Europe' },
      'input "aws-region" is "Europe"; it takes an AWS region such as us-east-1',
    ],
    [
      'a short session',
      { ...AWS, 'role-session-duration': '899' },
      'input "role-session-duration" is "899"; it takes whole seconds from 900 to 43200 (and at most the role\'s maximum session duration)',
    ],
    [
      'a long session',
      { ...AWS, 'role-session-duration': '43201' },
      'input "role-session-duration" is "43201"; it takes whole seconds from 900 to 43200 (and at most the role\'s maximum session duration)',
    ],
    [
      'a session in minutes',
      { ...AWS, 'role-session-duration': '15m' },
      'input "role-session-duration" is "15m"; it takes whole seconds from 900 to 43200 (and at most the role\'s maximum session duration)',
    ],
    [
      'a fractional session',
      { ...AWS, 'role-session-duration': '900.5' },
      'input "role-session-duration" is "900.5"; it takes whole seconds from 900 to 43200 (and at most the role\'s maximum session duration)',
    ],
    [
      'an upper-case namespace',
      { ...AWS, namespace: 'Acme/Web' },
      'input "namespace" is "Acme/Web"; it takes 1 to 3 segments of lowercase letters, digits, ".", "_" or "-", separated by "/" (acme/web/prod)',
    ],
    [
      'a four-segment namespace',
      { ...AWS, namespace: 'a/b/c/d' },
      'input "namespace" is "a/b/c/d"; it takes 1 to 3 segments of lowercase letters, digits, ".", "_" or "-", separated by "/" (acme/web/prod)',
    ],
    [
      'the local keyring on aws',
      { ...AWS, keyring: 'local' },
      'input "keyring" is "local"; it takes "kms" or "kms-hierarchical"',
    ],
    ['a kms keyring on local', { ...LOCAL, keyring: 'kms' }, 'input "keyring" is "kms"; it takes "local"'],
    [
      'an unknown rotation',
      { ...AWS, rotation: 'never' },
      'input "rotation" is "never"; it takes "inline" or "deferred"',
    ],
    [
      'a bad table name',
      { ...AWS, table: 'my table' },
      'input "table" is "my table"; it takes 3 to 255 letters, digits, "_", "-" or "."',
    ],
    [
      'an audience with a space',
      { ...AWS, audience: 'sts amazonaws' },
      'input "audience" is "sts amazonaws"; it takes printable characters without spaces',
    ],
    [
      'a secret line that is not a name',
      { ...AWS, secrets: 'DB_URL\nmy-key' },
      'input "secrets" has the line "my-key", which is not a name; it takes one entry a line: NAME, ENV_NAME=NAME, or * for every secret in the namespace; a name is a letter or _, then letters, digits or _',
    ],
    [
      'a rename without a source',
      { ...AWS, secrets: 'API_KEY=' },
      'input "secrets" has the line "API_KEY=", which is not a name; it takes one entry a line: NAME, ENV_NAME=NAME, or * for every secret in the namespace; a name is a letter or _, then letters, digits or _',
    ],
    [
      'an env name set twice',
      { ...AWS, secrets: 'A=X\nA=Y' },
      'input "secrets" sets A twice; it takes one entry a line: NAME, ENV_NAME=NAME, or * for every secret in the namespace, each ENV_NAME once',
    ],
    [
      'a star among names',
      { ...AWS, secrets: '*\nDB_URL' },
      'input "secrets" mixes "*" with named secrets; it takes one entry a line: NAME, ENV_NAME=NAME, or * for every secret in the namespace',
    ],
    [
      'an unknown mask encoding',
      { ...AWS, 'mask-encodings': 'base64,hex' },
      'input "mask-encodings" has "hex"; it takes a comma-separated list of base64, url, json, or "none"',
    ],
    [
      'a dotenv path',
      { ...AWS, 'dotenv-file': '../../etc/env' },
      'input "dotenv-file" is "../../etc/env"; it takes a file name of letters, digits, ".", "_" or "-" (no directory: the file is written under RUNNER_TEMP)',
    ],
    [
      'a dotenv file named ..',
      { ...AWS, 'dotenv-file': '..' },
      'input "dotenv-file" is ".."; it takes a file name of letters, digits, ".", "_" or "-" (no directory: the file is written under RUNNER_TEMP)',
    ],
    [
      'egg-home on aws',
      { ...AWS, 'egg-home': '/srv/egg' },
      'input "egg-home" applies only to backend "local"; it takes an empty value with backend "aws"',
    ],
    [
      'a role on local',
      { ...LOCAL, 'role-to-assume': ROLE },
      'input "role-to-assume" applies only to backend "aws"; it takes an empty value with backend "local"',
    ],
    [
      'a table on local',
      { ...LOCAL, table: 'egg-prod' },
      'input "table" applies only to backend "aws"; it takes an empty value with backend "local"',
    ],
    [
      'exported AWS credentials on local',
      { ...LOCAL, 'export-aws-credentials': 'true' },
      'input "export-aws-credentials" applies only to backend "aws"; it takes "false" with backend "local"',
    ],
    [
      'a signing key on local',
      { ...LOCAL, 'signing-key-id': 'alias/egg-signing' },
      'input "signing-key-id" applies only to backend "aws"; it takes an empty value with backend "local"',
    ],
    [
      'a signing key id with a space',
      { ...AWS, 'signing-key-id': 'alias/egg signing' },
      'input "signing-key-id" is "alias/egg signing"; it takes a KMS key id, key ARN, alias name or alias ARN of an Ed25519 signing key',
    ],
    [
      'a token file on local',
      { ...LOCAL, 'web-identity-token-file': 'true' },
      'input "web-identity-token-file" applies only to backend "aws"; it takes "false" with backend "local"',
    ],
    [
      'exported AWS keys together with a web identity token file',
      { ...AWS, 'export-aws-credentials': 'true', 'web-identity-token-file': 'true' },
      'inputs "export-aws-credentials" and "web-identity-token-file" both give later steps AWS credentials, and AWS SDKs would use the exported keys and ignore the token file; set one of them to "true"',
    ],
    [
      'deferred rotation on the local backend, which has no rotator',
      { ...LOCAL, rotation: 'deferred' },
      'inputs "rotation" and "backend" are "deferred" and "local": deferred rotation leaves re-encryption to the rotator on AWS, and a local vault has none, so what the step reads would never be re-encrypted; rotation "inline" (the default) with backend "local"',
    ],
  ])('refuses %s, naming the input and what it takes', (_label, inputs, message) => {
    expect(() => read(inputs)).toThrow(expect.objectContaining({ code: 'ERR_USAGE', message }));
  });

  it('cuts a long bad value in its message', () => {
    expect(() => read({ ...AWS, 'export-env': 'x'.repeat(100) })).toThrow(
      `input "export-env" is "${'x'.repeat(60)}…"; it takes "true" or "false"`,
    );
  });

  describe('mint-tokens', () => {
    const mint = (text: string) => read({ ...LOCAL, 'mint-tokens': text }).mintTokens;

    it('reads one spec a line, with defaults, skipping comments', () => {
      expect(
        mint(
          [
            'OPENAI_KEY origins=https://A.example.com,http://localhost:5173 ttl=30m rps=5 burst=10 spend=1000',
            '# later',
            '',
            'OTHER spend=50 rps=1 origins=https://b.example cost=5',
          ].join('\n'),
        ),
      ).toEqual([
        {
          key: 'OPENAI_KEY',
          origins: ['https://a.example.com', 'http://localhost:5173'],
          ttlSeconds: 1800,
          rps: 5,
          burst: 10,
          spend: 1000,
        },
        { key: 'OTHER', origins: ['https://b.example'], ttlSeconds: 3600, rps: 1, spend: 50, cost: 5 },
      ]);
    });

    it('reads a JSON list', () => {
      expect(
        mint(
          JSON.stringify([
            { key: 'K', origins: ['https://a.example'], ttl: '6h', rps: 2, spend: '10', burst: 3, cost: 2 },
            { key: 'J', origins: 'https://a.example,https://b.example', ttl: 90, rps: 1, spend: 1 },
          ]),
        ),
      ).toEqual([
        { key: 'K', origins: ['https://a.example'], ttlSeconds: 21600, rps: 2, spend: 10, burst: 3, cost: 2 },
        { key: 'J', origins: ['https://a.example', 'https://b.example'], ttlSeconds: 90, rps: 1, spend: 1 },
      ]);
    });

    it('is absent when empty', () => {
      expect(mint('')).toBeUndefined();
      expect(mint('# none')).toBeUndefined();
    });

    it('mints a token usable without Origin only when its spec says allow-no-origin=true', () => {
      expect(
        mint(
          [
            'NATIVE allow-no-origin=true rps=1 spend=1',
            'BOTH origins=https://a.example allow-no-origin=true rps=1 spend=1',
            'WEB origins=https://a.example allow-no-origin=false rps=1 spend=1',
          ].join('\n'),
        ),
      ).toEqual([
        { key: 'NATIVE', origins: [], allowNoOrigin: true, ttlSeconds: 3600, rps: 1, spend: 1 },
        {
          key: 'BOTH',
          origins: ['https://a.example'],
          allowNoOrigin: true,
          ttlSeconds: 3600,
          rps: 1,
          spend: 1,
        },
        { key: 'WEB', origins: ['https://a.example'], ttlSeconds: 3600, rps: 1, spend: 1 },
      ]);
      expect(mint(JSON.stringify([{ key: 'K', 'allow-no-origin': true, rps: 1, spend: 1 }]))).toEqual([
        { key: 'K', origins: [], allowNoOrigin: true, ttlSeconds: 3600, rps: 1, spend: 1 },
      ]);
    });

    it.each<[string, string, string]>([
      [
        'no origins and no allow-no-origin',
        'K rps=1 spend=1',
        'input "mint-tokens" token 1 (K) needs origins; it takes 1 to 32 comma-separated origins such as origins=https://app.example.com,http://localhost:5173, or allow-no-origin=true for a native app that sends no Origin',
      ],
      [
        'allow-no-origin=false and no origins',
        'K allow-no-origin=false rps=1 spend=1',
        'input "mint-tokens" token 1 (K) needs origins; it takes 1 to 32 comma-separated origins such as origins=https://app.example.com,http://localhost:5173, or allow-no-origin=true for a native app that sends no Origin',
      ],
      [
        'allow-no-origin neither true nor false',
        'K allow-no-origin=yes rps=1 spend=1',
        'input "mint-tokens" token 1 (K) has allow-no-origin "yes"; it takes allow-no-origin=true or allow-no-origin=false',
      ],
      [
        'allow-no-origin a number in JSON',
        '[{"key":"K","allow-no-origin":1,"rps":1,"spend":1}]',
        'input "mint-tokens" token 1 (K) has allow-no-origin "1"; it takes allow-no-origin=true or allow-no-origin=false',
      ],
      [
        'the origin null',
        'K origins=null allow-no-origin=true rps=1 spend=1',
        'input "mint-tokens" token 1 (K) has the origin "null"; it takes origins written scheme://host[:port] exactly, e.g. https://app.example.com, with no path',
      ],
    ])('refuses %s', (_name, text, message) => {
      expect(() => mint(text)).toThrow(expect.objectContaining({ code: 'ERR_USAGE', message }));
    });

    const ALLOWED =
      'one token a line, `KEY origins=https://a.example,https://b.example ttl=30m rps=5 spend=1000 [burst=10] [cost=1] [allow-no-origin=true] [max-clients=3] [client-rps=2]`, or a JSON list of {"key", "origins", "ttl", "rps", "spend", "burst", "cost", "allow-no-origin", "max-clients", "client-rps"}';
    it.each<[string, string, string]>([
      [
        'a ttl longer than a job',
        'K origins=https://a.example ttl=6h1s rps=1 spend=1',
        'input "mint-tokens" token 1 (K) has ttl "6h1s"; it takes a lifetime from 1s to 6h (no longer than a job may run), e.g. ttl=90s, ttl=30m, ttl=2h',
      ],
      [
        'a ttl of 7h',
        'K origins=https://a.example ttl=7h rps=1 spend=1',
        'input "mint-tokens" token 1 (K) has ttl "7h"; it takes a lifetime from 1s to 6h (no longer than a job may run), e.g. ttl=90s, ttl=30m, ttl=2h',
      ],
      [
        'a missing spend',
        'K origins=https://a.example rps=1',
        'input "mint-tokens" token 1 (K) needs spend; it takes spend= a whole number from 1 to 1000000000000',
      ],
      [
        'a fractional rps',
        'K origins=https://a.example rps=1.5 spend=1',
        'input "mint-tokens" token 1 (K) has rps "1.5"; it takes rps= a whole number from 1 to 1000000000000',
      ],
      [
        'an origin with a path',
        'K origins=https://a.example/app rps=1 spend=1',
        'input "mint-tokens" token 1 (K) has the origin "https://a.example/app"; it takes origins written scheme://host[:port] exactly, e.g. https://app.example.com, with no path',
      ],
      [
        'an unknown field',
        'K origins=https://a.example rps=1 spend=1 ttl2=3',
        `input "mint-tokens" line 1 has "ttl2=3"; it takes ${ALLOWED}`,
      ],
      [
        'a bad key',
        'sk-live origins=https://a.example rps=1 spend=1',
        `input "mint-tokens" token 1 has the key "sk-live", which is not a secret name; it takes ${ALLOWED}; KEY is a letter or _, then letters, digits or _`,
      ],
      [
        'a key twice',
        'K origins=https://a.example rps=1 spend=1\nK origins=https://b.example rps=1 spend=1',
        `input "mint-tokens" names K twice; it takes ${ALLOWED}; each KEY once (its token is the output token-KEY)`,
      ],
      [
        'a cost above spend',
        'K origins=https://a.example rps=1 spend=2 cost=3',
        'input "mint-tokens" token 1 (K) has cost 3 above spend 2; it takes a cost no larger than spend',
      ],
      [
        'broken JSON',
        '[{"key":',
        `input "mint-tokens" starts with "[" but is not valid JSON; it takes ${ALLOWED}`,
      ],
      [
        'an unknown JSON field',
        '[{"key":"K","origins":["https://a.example"],"rps":1,"spend":1,"value":"x"}]',
        `input "mint-tokens" item 1 has the unknown field "value"; it takes ${ALLOWED}`,
      ],
    ])('refuses %s, naming the input', (_label, text, message) => {
      expect(() => mint(text)).toThrow(expect.objectContaining({ code: 'ERR_USAGE', message }));
    });

    it('reads signing-key-id with mint-tokens on backend aws', () => {
      const key = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
      expect(
        read({ ...AWS, 'mint-tokens': 'K origins=https://a.example rps=1 spend=1', 'signing-key-id': key }),
      ).toEqual({
        ...AWS_DEFAULTS,
        mintTokens: [{ key: 'K', origins: ['https://a.example'], ttlSeconds: 3600, rps: 1, spend: 1 }],
        signingKeyId: key,
      });
      expect(read({ ...AWS, 'signing-key-id': 'alias/egg-signing' })).toMatchObject({
        signingKeyId: 'alias/egg-signing',
      });
    });

    it('refuses mint-tokens on backend aws without signing-key-id, in one sentence naming the key it needs', () => {
      expect(() => read({ ...AWS, 'mint-tokens': 'K origins=https://a.example rps=1 spend=1' })).toThrow(
        expect.objectContaining({
          code: 'ERR_USAGE',
          message:
            'input "signing-key-id" is required with backend "aws" when mint-tokens is set; it takes the KMS key that signs the tokens (key spec ECC_NIST_EDWARDS25519, usage SIGN_VERIFY): a key id, key ARN, alias name or alias ARN',
        }),
      );
    });
  });
});

describe('mint-tokens at the edges', () => {
  const mint = (text: string) => read({ ...LOCAL, 'mint-tokens': text }).mintTokens;
  const ALLOWED =
    'one token a line, `KEY origins=https://a.example,https://b.example ttl=30m rps=5 spend=1000 [burst=10] [cost=1] [allow-no-origin=true] [max-clients=3] [client-rps=2]`, or a JSON list of {"key", "origins", "ttl", "rps", "spend", "burst", "cost", "allow-no-origin", "max-clients", "client-rps"}';
  const spec = (key: string) => `${key} origins=https://a.example rps=1 spend=1`;

  it('mints nothing for blank text or an empty JSON list', () => {
    for (const text of ['  \n ', '[]', ' [ ] ', '# only a comment'])
      expect(read({ ...LOCAL, 'mint-tokens': text }), JSON.stringify(text)).not.toHaveProperty('mintTokens');
  });

  it('takes 20 tokens and refuses 21', () => {
    const keys = Array.from({ length: 21 }, (_, i) => `K${i}`);
    expect(mint(keys.slice(0, 20).map(spec).join('\n'))).toHaveLength(20);
    expect(() => mint(keys.map(spec).join('\n'))).toThrow(
      expect.objectContaining({
        message: 'input "mint-tokens" asks for 21 tokens; it takes at most 20 tokens',
      }),
    );
  });

  it('reads indented lines with runs of spaces and tabs between fields, and CRLF', () => {
    expect(
      mint(
        '  K \t origins=https://a.example  rps=2\tspend=3  \r\n\tJ origins=https://b.example rps=1 spend=1',
      ),
    ).toEqual([
      { key: 'K', origins: ['https://a.example'], ttlSeconds: 3600, rps: 2, spend: 3 },
      { key: 'J', origins: ['https://b.example'], ttlSeconds: 3600, rps: 1, spend: 1 },
    ]);
  });

  it('trims each origin of a comma-separated list and keeps each once, in order', () => {
    expect(
      mint('K origins=https://b.example,https://A.example,https://a.example rps=1 spend=1')?.[0]?.origins,
    ).toEqual(['https://b.example', 'https://a.example']);
    expect(
      mint('[{"key":"K","origins":"https://a.example , https://b.example","rps":1,"spend":1}]')?.[0]?.origins,
    ).toEqual(['https://a.example', 'https://b.example']);
    expect(() => mint('[{"key":"K","origins":[" https://a.example"],"rps":1,"spend":1}]')).toThrow(
      expect.objectContaining({ message: expect.stringContaining('has the origin " https://a.example"') }),
    );
  });

  it('takes 32 origins and refuses 33', () => {
    const origins = (n: number) => Array.from({ length: n }, (_, i) => `https://a${i}.example`).join(',');
    expect(mint(`K origins=${origins(32)} rps=1 spend=1`)?.[0]?.origins).toHaveLength(32);
    expect(() => mint(`K origins=${origins(33)} rps=1 spend=1`)).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(/^input "mint-tokens" token 1 \(K\) needs origins;/),
      }),
    );
  });

  it('takes max-clients and client-rps as `egg tokens mint` does, as words or JSON numbers', () => {
    expect(mint('K origins=https://a.example rps=5 spend=9 max-clients=3 client-rps=2')).toEqual([
      {
        key: 'K',
        origins: ['https://a.example'],
        ttlSeconds: 3600,
        rps: 5,
        spend: 9,
        maxClients: 3,
        clientRps: 2,
      },
    ]);
    expect(
      mint('[{"key":"K","allow-no-origin":true,"rps":1,"spend":1,"max-clients":1000,"client-rps":"1"}]'),
    ).toEqual([
      {
        key: 'K',
        origins: [],
        allowNoOrigin: true,
        ttlSeconds: 3600,
        rps: 1,
        spend: 1,
        maxClients: 1000,
        clientRps: 1,
      },
    ]);
    // Absent: no limit, as a token minted without the flags.
    expect(mint('K origins=https://a.example rps=1 spend=1')?.[0]).not.toHaveProperty('maxClients');
    expect(mint('K origins=https://a.example rps=1 spend=1')?.[0]).not.toHaveProperty('clientRps');
  });

  it.each<[string, string, string]>([
    [
      'max-clients of 0',
      'K origins=https://a.example rps=1 spend=1 max-clients=0',
      'input "mint-tokens" token 1 (K) has max-clients "0"; it takes max-clients= a whole number from 1 to 1000',
    ],
    [
      'max-clients over the 1000 the store can share',
      'K origins=https://a.example rps=1 spend=1 max-clients=1001',
      'input "mint-tokens" token 1 (K) has max-clients "1001"; it takes max-clients= a whole number from 1 to 1000',
    ],
    [
      'max-clients that is not a number',
      '[{"key":"K","origins":["https://a.example"],"rps":1,"spend":1,"max-clients":2.5}]',
      'input "mint-tokens" token 1 (K) has max-clients "2.5"; it takes max-clients= a whole number from 1 to 1000',
    ],
    [
      'client-rps of 0',
      'K origins=https://a.example rps=1 spend=1 client-rps=0',
      'input "mint-tokens" token 1 (K) has client-rps "0"; it takes client-rps= a whole number from 1 to 1000000000000',
    ],
    [
      'client-rps with text after it',
      'K origins=https://a.example rps=1 spend=1 client-rps=2x',
      'input "mint-tokens" token 1 (K) has client-rps "2x"; it takes client-rps= a whole number from 1 to 1000000000000',
    ],
  ])('refuses %s', (_name, text, message) => {
    expect(() => mint(text)).toThrow(expect.objectContaining({ code: 'ERR_USAGE', message }));
  });

  it('takes caps and lifetimes at their bounds, as words or JSON numbers', () => {
    expect(mint('K origins=https://a.example ttl=1 rps=1000000000000 spend=5 burst=1 cost=5')).toEqual([
      { key: 'K', origins: ['https://a.example'], ttlSeconds: 1, rps: 1e12, spend: 5, burst: 1, cost: 5 },
    ]);
    expect(
      mint(
        '[{"key":"K","origins":["https://a.example"],"ttl":21600,"rps":7,"spend":9,"allow-no-origin":false}]',
      ),
    ).toEqual([{ key: 'K', origins: ['https://a.example'], ttlSeconds: 21600, rps: 7, spend: 9 }]);
    expect(mint('K origins=https://a.example ttl=6h rps=1 spend=1')?.[0]?.ttlSeconds).toBe(21600);
  });

  it.each<[string, string, string]>([
    ['a ttl of 0', 'K origins=https://a.example ttl=0 rps=1 spend=1', 'has ttl "0"'],
    ['a ttl with a unit of days', 'K origins=https://a.example ttl=1d rps=1 spend=1', 'has ttl "1d"'],
    ['a ttl with text after it', 'K origins=https://a.example ttl=5mx rps=1 spend=1', 'has ttl "5mx"'],
    [
      'a ttl that is a JSON boolean',
      '[{"key":"K","origins":["https://a.example"],"ttl":true,"rps":1,"spend":1}]',
      'has ttl "true"',
    ],
    ['an rps of 0', 'K origins=https://a.example rps=0 spend=1', 'has rps "0"'],
    [
      'an rps over the cap',
      'K origins=https://a.example rps=1000000000001 spend=1',
      'has rps "1000000000001"',
    ],
    [
      'an rps of 14 digits',
      'K origins=https://a.example rps=10000000000000 spend=1',
      'has rps "10000000000000"',
    ],
    ['an rps with a sign', 'K origins=https://a.example rps=+5 spend=1', 'has rps "+5"'],
    ['an rps with text after it', 'K origins=https://a.example rps=5x spend=1', 'has rps "5x"'],
    ['an rps with text before it', 'K origins=https://a.example rps=x5 spend=1', 'has rps "x5"'],
    [
      'an rps that is a JSON string of a fraction',
      '[{"key":"K","origins":["https://a.example"],"rps":"1.5","spend":1}]',
      'has rps "1.5"',
    ],
    [
      'an rps that is a JSON boolean',
      '[{"key":"K","origins":["https://a.example"],"rps":true,"spend":1}]',
      'has rps "true"',
    ],
    ['a burst of 0', 'K origins=https://a.example rps=1 spend=1 burst=0', 'has burst "0"'],
    ['a cost of 0', 'K origins=https://a.example rps=1 spend=1 cost=0', 'has cost "0"'],
    [
      'a cost above the spend',
      'K origins=https://a.example rps=1 spend=4 cost=5',
      'has cost 5 above spend 4',
    ],
    [
      'a key that is not a secret name',
      'K-1 origins=https://a.example rps=1 spend=1',
      'has the key "K-1", which is not a secret name',
    ],
  ])('refuses %s', (_name, text, problem) => {
    expect(() => mint(text)).toThrow(
      expect.objectContaining({
        code: 'ERR_USAGE',
        message: expect.stringContaining(`input "mint-tokens" token 1 `),
      }),
    );
    expect(() => mint(text)).toThrow(expect.objectContaining({ message: expect.stringContaining(problem) }));
  });

  it.each<[string, string, string]>([
    ['a field without a name', 'K =1 origins=https://a.example rps=1 spend=1', 'line 1 has "=1"'],
    ['a field without =', 'K rps origins=https://a.example spend=1', 'line 1 has "rps"'],
    ['a field set twice', 'K rps=1 rps=2 origins=https://a.example spend=1', 'line 1 sets rps twice'],
    [
      'a field set twice on line 2',
      `${spec('J')}\nK rps=1 rps=2 origins=https://a.example spend=1`,
      'line 2 sets rps twice',
    ],
    ['JSON that is not a list', '[1', 'starts with "[" but is not valid JSON'],
    ['a JSON item that is a number', '[1]', 'item 1 is not an object'],
    [
      'a JSON item that is null',
      '[{"key":"K","origins":["https://a.example"],"rps":1,"spend":1}, null]',
      'item 2 is not an object',
    ],
    ['a JSON item that is a list', '[[]]', 'item 1 is not an object'],
    ['a JSON item with an unknown field', '[{"key":"K","tags":1}]', 'item 1 has the unknown field "tags"'],
    [
      'a JSON key that is not a string',
      '[{"key":7,"origins":["https://a.example"],"rps":1,"spend":1}]',
      'token 1 has the key "7", which is not a secret name',
    ],
    [
      'a JSON key in a list',
      '[{"key":["K"],"origins":["https://a.example"],"rps":1,"spend":1}]',
      'token 1 has the key "K", which is not a secret name',
    ],
    [
      'JSON origins that are not all strings',
      '[{"key":"K","origins":["https://a.example",1],"rps":1,"spend":1}]',
      'token 1 (K) needs origins',
    ],
    [
      'JSON origins that are not a list',
      '[{"key":"K","origins":{"a":1},"rps":1,"spend":1}]',
      'token 1 (K) needs origins',
    ],
  ])('refuses %s', (_name, text, problem) => {
    expect(() => mint(text)).toThrow(
      expect.objectContaining({
        code: 'ERR_USAGE',
        message: expect.stringMatching(/^input "mint-tokens" .*; it takes /),
      }),
    );
    expect(() => mint(text)).toThrow(expect.objectContaining({ message: expect.stringContaining(problem) }));
  });

  it('quotes at most 60 characters of what was typed', () => {
    const long = `x${'a'.repeat(70)}=1`;
    expect(() => mint(`K ${long}`)).toThrow(
      expect.objectContaining({
        message: `input "mint-tokens" line 1 has ${JSON.stringify(`${long.slice(0, 60)}…`)}; it takes ${ALLOWED}`,
      }),
    );
    const sixty = `x${'a'.repeat(57)}=1`;
    expect(sixty).toHaveLength(60);
    expect(() => mint(`K ${sixty}`)).toThrow(
      expect.objectContaining({ message: expect.stringContaining(`has "${sixty}";`) }),
    );
  });
});

describe('other inputs at the edges', () => {
  it('takes a session of 900 s and refuses 899', () => {
    expect(read({ ...AWS, 'role-session-duration': '900' }).roleSessionDuration).toBe(900);
    expect(read({ ...AWS, 'role-session-duration': '43200' }).roleSessionDuration).toBe(43200);
    expect(() => read({ ...AWS, 'role-session-duration': '899' })).toThrow(
      expect.objectContaining({ message: expect.stringContaining('input "role-session-duration" is "899"') }),
    );
  });

  it('refuses the dotenv file names . and ..', () => {
    for (const name of ['.', '..'])
      expect(() => read({ ...LOCAL, 'dotenv-file': name })).toThrow(
        expect.objectContaining({ message: expect.stringContaining(`input "dotenv-file" is "${name}"`) }),
      );
    expect(read({ ...LOCAL, 'dotenv-file': '.env' }).dotenvFile).toBe('.env');
  });

  it('sets no optional field that was not given', () => {
    // table and kms-key-id are required with backend aws (the discriminated union): not optional.
    const inputs = read(AWS);
    for (const field of ['dotenvFile', 'signingKeyId', 'mintTokens', 'eggHome'])
      expect(Object.keys(inputs)).not.toContain(field);
  });
});

describe('patterns of the aws inputs and optional mint fields', () => {
  it.each<[string, string, boolean]>([
    ['role-to-assume', 'arn:aws:iam::123456789012:role/ci', true],
    ['role-to-assume', 'arn:aws-cn:iam::123456789012:role/ci', true],
    ['role-to-assume', 'arn:aws-us-gov:iam::123456789012:role/path/ci', true],
    ['role-to-assume', 'xarn:aws:iam::123456789012:role/ci', false],
    ['role-to-assume', 'arn:aws:iam::123456789012:role/ci x', false],
    ['aws-region', 'us-gov-west-1', true],
    ['aws-region', 'ap-southeast-10', true],
    ['aws-region', 'xus-east-1', false],
    ['aws-region', 'us-east-1x', false],
    ['table', 't'.repeat(255), true],
    ['table', 't'.repeat(256), false],
  ])('%s %s → %s', (input, value, allowed) => {
    const run = () => read({ ...AWS, [input]: value });
    if (allowed) expect(run).not.toThrow();
    else
      expect(run).toThrow(expect.objectContaining({ message: expect.stringContaining(`input "${input}"`) }));
  });

  it('refuses an empty JSON origin list without allow-no-origin', () => {
    expect(() => read({ ...LOCAL, 'mint-tokens': '[{"key":"K","origins":[],"rps":1,"spend":1}]' })).toThrow(
      expect.objectContaining({ message: expect.stringContaining('token 1 (K) needs origins') }),
    );
  });

  it('leaves burst and cost out of a spec that does not set them', () => {
    const [spec] =
      read({ ...LOCAL, 'mint-tokens': 'K origins=https://a.example rps=1 spend=1' }).mintTokens ?? [];
    expect(Object.keys(spec ?? {}).sort()).toEqual(['key', 'origins', 'rps', 'spend', 'ttlSeconds']);
  });
});

it('says what kms-key-id takes when it refuses one', () => {
  expect(() => read({ ...AWS, 'kms-key-id': 'a key' })).toThrow(
    expect.objectContaining({
      message: 'input "kms-key-id" is "a key"; it takes a KMS key id, key ARN, alias name or alias ARN',
    }),
  );
});

describe('backend api', () => {
  const API = { backend: 'api', 'api-url': 'https://egg.example.com' };
  const { roleToAssume: _r, awsRegion: _a, table: _t, kmsKeyId: _k, keyring: _y, ...STEP } = AWS_DEFAULTS;

  it('fills every default: the URL as parsed, the audience its origin', () => {
    expect(read(API)).toEqual({
      ...STEP,
      backend: 'api',
      apiUrl: 'https://egg.example.com/',
      apiAudience: 'https://egg.example.com',
    });
    expect(read({ ...API, 'api-url': 'https://egg.example.com:8443/v1' })).toMatchObject({
      apiUrl: 'https://egg.example.com:8443/v1',
      apiAudience: 'https://egg.example.com:8443',
    });
    expect(read({ ...API, 'api-audience': 'egg-ci' })).toMatchObject({ apiAudience: 'egg-ci' });
  });

  it('takes http on loopback only, and no user, query or fragment', () => {
    for (const url of ['http://127.0.0.1:8788', 'http://localhost:1', 'http://[::1]:2'])
      expect(read({ ...API, 'api-url': url })).toMatchObject({ backend: 'api' });
    for (const url of [
      'http://egg.example.com',
      'ftp://egg.example.com',
      'ftp://127.0.0.1',
      'https://user@egg.example.com',
      'https://:pw@egg.example.com',
      'egg.example.com',
      'https://user:pw@egg.example.com',
      'https://egg.example.com/?x=1',
      'https://egg.example.com/#f',
    ])
      expect(() => read({ ...API, 'api-url': url })).toThrow(
        `input "api-url" is ${JSON.stringify(url)}; it takes the API’s https URL (http only on loopback), with no user, query or fragment, e.g. https://egg.example.com`,
      );
    expect(() => read({ backend: 'api' })).toThrow('input "api-url" is required with backend "api"');
    expect(() => read({ ...API, 'api-audience': 'has space' })).toThrow(
      'input "api-audience" is "has space"; it takes printable characters without spaces',
    );
  });

  it.each([
    ['role-to-assume', ROLE],
    ['aws-region', 'eu-west-1'],
    ['table', 'egg-prod'],
    ['kms-key-id', 'alias/egg'],
    ['signing-key-id', 'alias/sign'],
    ['keyring', 'kms'],
    ['role-session-duration', '1800'],
    ['export-aws-credentials', 'true'],
    ['web-identity-token-file', 'true'],
    ['egg-home', '/tmp/egg'],
  ])('refuses %s with backend api, naming both', (name, value) => {
    expect(() => read({ ...API, [name]: value })).toThrow(
      `inputs "${name}" and "backend" are set and "api": ${name} does not apply to backend "api"; leave ${name} empty with backend "api"`,
    );
  });

  it('checks a saved API URL as it checks the input (isApiUrl, for the post step)', () => {
    for (const url of [
      'https://egg.example.com',
      'https://egg.example.com/v',
      'http://127.0.0.1:8788',
      'http://localhost:1',
      'http://[::1]:2',
    ])
      expect(isApiUrl(url)).toBe(true);
    for (const url of [
      '',
      'egg.example.com',
      'http://egg.example.com',
      'ftp://127.0.0.1',
      'https://user@egg.example.com',
      'https://:pw@egg.example.com',
      'https://egg.example.com/?x=1',
      'https://egg.example.com/#f',
    ])
      expect(isApiUrl(url)).toBe(false);
  });

  it('refuses another STS audience and deferred rotation, and takes action.yml’s defaults', () => {
    expect(() => read({ ...API, audience: 'egg-ci' })).toThrow(
      'inputs "audience" and "backend" are set and "api": audience does not apply to backend "api"; give the OIDC token’s audience as api-audience',
    );
    expect(() => read({ ...API, rotation: 'deferred' })).toThrow(
      'inputs "rotation" and "backend" are "deferred" and "api": the API re-encrypts what it reads as its own configuration says; rotation "inline" (the default) with backend "api"',
    );
    expect(
      read({ ...API, audience: 'sts.amazonaws.com', 'role-session-duration': '900', rotation: 'inline' }),
    ).toMatchObject({ backend: 'api' });
  });

  it('refuses api-url and api-audience with the other backends, naming both', () => {
    expect(() => read({ ...AWS, 'api-url': 'https://egg.example.com' })).toThrow(
      'inputs "api-url" and "backend" are set and "aws": api-url applies only to backend "api"; leave api-url empty',
    );
    expect(() => read({ ...LOCAL, 'api-audience': 'egg-ci' })).toThrow(
      'inputs "api-audience" and "backend" are set and "local": api-audience applies only to backend "api"; leave api-audience empty',
    );
  });
});

describe('expiry-warning-days and secrets comments', () => {
  it('takes whole days up to 3650, and nothing else', () => {
    expect(read({ ...AWS, 'expiry-warning-days': '30' })).toMatchObject({ expiryWarningDays: 30 });
    expect(read({ ...AWS, 'expiry-warning-days': '0' })).toMatchObject({ expiryWarningDays: 0 });
    expect(read({ ...AWS, 'expiry-warning-days': '3650' })).toMatchObject({ expiryWarningDays: 3650 });
    for (const value of ['a12', '12345', '3651'])
      expect(() => read({ ...AWS, 'expiry-warning-days': value })).toThrow(
        `input "expiry-warning-days" is "${value}"; it takes whole days from 0 to 3650 (0: warn only for expired secrets)`,
      );
  });

  it('skips an indented comment line in secrets', () => {
    expect(read({ ...AWS, secrets: '  # the key\nAPI_KEY' })).toMatchObject({
      secrets: [{ env: 'API_KEY', name: 'API_KEY' }],
    });
  });
});

describe('rotate-tokens', () => {
  const ID = '3q2-7wZbQ0mB1cXyT4uVnA';
  const ID2 = 'AAAAAAAAAAAAAAAAAAAAA_';
  const rotate = (text: string, extra: Record<string, string> = {}) =>
    read({ ...LOCAL, 'rotate-tokens': text, ...extra }).rotateTokens;
  const ALLOWED =
    'one token a line, `NAME=TOKEN_ID [grace=5m]`, or a JSON list of {"name", "id", "grace"}: NAME names the output token-NAME, TOKEN_ID is a token id (22 letters, digits, "_" or "-", see `egg tokens list`), grace is 0, 90s, 5m or 1h, at most 24h (default 5m)';
  const refused = (text: string, message: string, extra: Record<string, string> = {}) =>
    expect(() => rotate(text, extra)).toThrow(expect.objectContaining({ code: 'ERR_USAGE', message }));

  it('reads one NAME=TOKEN_ID a line with an optional grace (default 5m), skipping comments', () => {
    expect(
      rotate(
        [
          `WEB_TOKEN=${ID} grace=1h`,
          '# shipped in 1.2',
          '',
          `  APP=${ID2}  `,
          `NOW=${'B'.repeat(22)} grace=0`,
        ].join('\r\n'),
      ),
    ).toEqual([
      { name: 'WEB_TOKEN', id: ID, graceSeconds: 3600 },
      { name: 'APP', id: ID2, graceSeconds: 300 },
      { name: 'NOW', id: 'B'.repeat(22), graceSeconds: 0 },
    ]);
  });

  it('takes a JSON list, grace as a duration or plain seconds', () => {
    expect(
      rotate(
        JSON.stringify([
          { name: 'A', id: ID, grace: '90s' },
          { name: 'B', id: ID2, grace: 86400 },
          { name: 'C', id: 'C'.repeat(22) },
        ]),
      ),
    ).toEqual([
      { name: 'A', id: ID, graceSeconds: 90 },
      { name: 'B', id: ID2, graceSeconds: 86400 },
      { name: 'C', id: 'C'.repeat(22), graceSeconds: 300 },
    ]);
  });

  it('rotates nothing for blank text, a comment or an empty JSON list', () => {
    for (const text of ['', '  \n ', '[]', ' [ ] ', '# only a comment'])
      expect(read({ ...LOCAL, 'rotate-tokens': text }), JSON.stringify(text)).not.toHaveProperty(
        'rotateTokens',
      );
  });

  it('takes at most 20 tokens', () => {
    const lines = (n: number) =>
      Array.from({ length: n }, (_, i) => `T${i}=${String(i).padStart(2, '0')}${'x'.repeat(20)}`).join('\n');
    expect(rotate(lines(20))).toHaveLength(20);
    refused(lines(21), 'input "rotate-tokens" asks for 21 tokens; it takes at most 20 tokens');
  });

  it.each([
    ['a line without =', ID, `input "rotate-tokens" line 1 is "${ID}"; it takes ${ALLOWED}`],
    ['a line starting with =', `=${ID}`, `input "rotate-tokens" line 1 is "=${ID}"; it takes ${ALLOWED}`],
    [
      'a field other than grace',
      `A=${ID} ttl=5m`,
      `input "rotate-tokens" line 1 is "A=${ID} ttl=5m"; it takes ${ALLOWED}`,
    ],
    [
      'two graces',
      `A=${ID} grace=1m grace=2m`,
      `input "rotate-tokens" line 1 is "A=${ID} grace=1m grace=2m"; it takes ${ALLOWED}`,
    ],
    ['a bad line after a good one', `A=${ID}\nB`, `input "rotate-tokens" line 2 is "B"; it takes ${ALLOWED}`],
    [
      'a name that is not a name',
      `sk-live=${ID}`,
      `input "rotate-tokens" token 1 has the name "sk-live", which is not a name; it takes ${ALLOWED}; NAME is a letter or _, then letters, digits or _`,
    ],
    [
      'an id that is not a token id',
      'A=short',
      `input "rotate-tokens" token 1 (A) has the id "short"; it takes ${ALLOWED}`,
    ],
    [
      'an id one character too long',
      `A=${ID}x`,
      `input "rotate-tokens" token 1 (A) has the id "${ID}x"; it takes ${ALLOWED}`,
    ],
    [
      'a grace above 24h',
      `A=${ID} grace=25h`,
      `input "rotate-tokens" token 1 (A) has grace "25h"; it takes ${ALLOWED}`,
    ],
    [
      'a grace that is not a duration',
      `A=${ID} grace=5min`,
      `input "rotate-tokens" token 1 (A) has grace "5min"; it takes ${ALLOWED}`,
    ],
    [
      'a negative grace',
      JSON.stringify([{ name: 'A', id: ID, grace: -1 }]),
      `input "rotate-tokens" token 1 (A) has grace "-1"; it takes ${ALLOWED}`,
    ],
    [
      'a name twice',
      `A=${ID}\nA=${ID2}`,
      `input "rotate-tokens" names A twice; it takes ${ALLOWED}; each name once`,
    ],
    [
      'an id twice',
      `A=${ID}\nB=${ID}`,
      `input "rotate-tokens" names ${ID} twice; it takes ${ALLOWED}; each id once`,
    ],
    ['broken JSON', '[{', `input "rotate-tokens" starts with "[" but is not valid JSON; it takes ${ALLOWED}`],
    [
      'a JSON item that is no object',
      '[1]',
      `input "rotate-tokens" item 1 is not an object; it takes ${ALLOWED}`,
    ],
    [
      'a JSON null',
      '[{"name":"A","id":"x"},null]',
      `input "rotate-tokens" item 2 is not an object; it takes ${ALLOWED}`,
    ],
    ['a JSON list item', '[[]]', `input "rotate-tokens" item 1 is not an object; it takes ${ALLOWED}`],
    [
      'an unknown JSON field',
      JSON.stringify([{ name: 'A', id: ID, ttl: 5 }]),
      `input "rotate-tokens" item 1 has the unknown field "ttl"; it takes ${ALLOWED}`,
    ],
    [
      'a JSON name that is no string',
      JSON.stringify([{ name: 7, id: ID }]),
      `input "rotate-tokens" token 1 has the name "7", which is not a name; it takes ${ALLOWED}; NAME is a letter or _, then letters, digits or _`,
    ],
    [
      'a JSON name that is a list holding a name',
      JSON.stringify([{ name: ['A'], id: ID }]),
      `input "rotate-tokens" token 1 has the name "A", which is not a name; it takes ${ALLOWED}; NAME is a letter or _, then letters, digits or _`,
    ],
    [
      'a JSON id that is a list holding an id',
      JSON.stringify([{ name: 'A', id: [ID] }]),
      `input "rotate-tokens" token 1 (A) has the id "${ID}"; it takes ${ALLOWED}`,
    ],
    [
      'a JSON grace that is a list holding a duration',
      JSON.stringify([{ name: 'A', id: ID, grace: ['90s'] }]),
      `input "rotate-tokens" token 1 (A) has grace "90s"; it takes ${ALLOWED}`,
    ],
    [
      'a JSON id that is no string',
      JSON.stringify([{ name: 'A', id: 7 }]),
      `input "rotate-tokens" token 1 (A) has the id "7"; it takes ${ALLOWED}`,
    ],
  ])('refuses %s, naming the input', (_label, text, message) => refused(text, message));

  it('refuses a NAME that is also a mint-tokens KEY, naming both inputs', () => {
    refused(
      `K=${ID}`,
      'inputs "mint-tokens" and "rotate-tokens" both name K: each sets the output token-K; give each output name once',
      {
        'mint-tokens': 'J origins=https://a.example rps=1 spend=1\nK origins=https://a.example rps=1 spend=1',
      },
    );
    expect(
      read({
        ...LOCAL,
        'rotate-tokens': `K=${ID}`,
        'mint-tokens': 'J origins=https://a.example rps=1 spend=1',
      }),
    ).toMatchObject({ rotateTokens: [{ name: 'K' }], mintTokens: [{ key: 'J' }] });
  });

  it('takes mint-tokens and rotate-tokens with backend api, with no signing-key-id (the server signs)', () => {
    const inputs = read({
      backend: 'api',
      'api-url': 'https://egg.example.com',
      'rotate-tokens': `K=${ID}`,
      'mint-tokens': 'J origins=https://a.example rps=1 spend=1',
    });
    expect(inputs).toMatchObject({
      backend: 'api',
      rotateTokens: [{ name: 'K', id: ID }],
      mintTokens: [{ key: 'J' }],
    });
    expect(inputs).not.toHaveProperty('signingKeyId');
  });

  it('needs signing-key-id on backend aws, and reads it', () => {
    expect(() => read({ ...AWS, 'rotate-tokens': `K=${ID}` })).toThrow(
      expect.objectContaining({
        code: 'ERR_USAGE',
        message:
          'input "signing-key-id" is required with backend "aws" when rotate-tokens is set; it takes the KMS key that signs the tokens (key spec ECC_NIST_EDWARDS25519, usage SIGN_VERIFY): a key id, key ARN, alias name or alias ARN',
      }),
    );
    expect(read({ ...AWS, 'rotate-tokens': `K=${ID}`, 'signing-key-id': 'alias/sign' })).toEqual({
      ...AWS_DEFAULTS,
      rotateTokens: [{ name: 'K', id: ID, graceSeconds: 300 }],
      signingKeyId: 'alias/sign',
    });
  });
});
