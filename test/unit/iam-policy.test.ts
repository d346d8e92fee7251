/**
 * The IAM evaluator the gateway enforces with (test/support/iam-policy.ts), rule by rule
 * against "Policy evaluation logic" and "IAM JSON policy elements: Condition operators".
 */
import { describe, expect, it } from 'vitest';
import {
  arnMatches,
  cfnResolver,
  type ContextValue,
  evaluateKeyAccess,
  evaluatePolicy,
  evaluateResourcePolicy,
  iamGlob,
  keyPolicyFromTemplate,
  type PolicyStatement,
  roleStatementsFromTemplate,
} from '../support/iam-policy.js';

const TABLE = 'arn:aws:dynamodb:us-east-1:123456789012:table/egg';
const KEY = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ROLE = 'arn:aws:iam::123456789012:role/egg-ci-a';
const OTHER_ROLE = 'arn:aws:iam::123456789012:role/egg-ci-b';

const get = (context: Record<string, ContextValue> = {}, action = 'dynamodb:GetItem', resource = TABLE) => ({
  action,
  resource,
  context,
});

/** A one-statement Allow with `Condition`, on GetItem of the table. */
const allowIf = (Condition: unknown): PolicyStatement[] => [
  { Sid: 'S', Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: TABLE, Condition },
];

describe('evaluation order', () => {
  const allow: PolicyStatement = { Sid: 'Allow', Effect: 'Allow', Action: 'dynamodb:*', Resource: '*' };
  const deny: PolicyStatement = { Sid: 'Deny', Effect: 'Deny', Action: 'dynamodb:GetItem', Resource: TABLE };

  it('denies implicitly when no statement applies', () => {
    expect(evaluatePolicy([], get())).toEqual({ decision: 'implicit-deny' });
    expect(evaluatePolicy([allow], get({}, 's3:GetObject'))).toEqual({ decision: 'implicit-deny' });
  });

  it('allows when an Allow applies, naming it', () => {
    expect(evaluatePolicy([allow], get())).toEqual({ decision: 'allow', statement: 'Allow' });
  });

  it('lets an explicit Deny win wherever it stands', () => {
    expect(evaluatePolicy([allow, deny], get())).toEqual({ decision: 'deny', statement: 'Deny' });
    expect(evaluatePolicy([deny, allow], get())).toEqual({ decision: 'deny', statement: 'Deny' });
    expect(evaluatePolicy([allow, deny], get({}, 'dynamodb:Query'))).toEqual({
      decision: 'allow',
      statement: 'Allow',
    });
  });

  it('names a statement without Sid by its index, and reads a whole document', () => {
    const document = { Version: '2012-10-17', Statement: { Effect: 'Allow', Action: '*', Resource: '*' } };
    expect(evaluatePolicy(document, get())).toEqual({ decision: 'allow', statement: 'Statement[0]' });
  });
});

describe('Action and Resource', () => {
  it.each([
    ['dynamodb:GetItem', 'dynamodb:GetItem', true],
    ['DynamoDB:getitem', 'dynamodb:GetItem', true],
    ['dynamodb:Get*', 'dynamodb:GetItem', true],
    ['dynamodb:*', 'dynamodb:GetItem', true],
    ['*', 'dynamodb:GetItem', true],
    ['dynamodb:?etItem', 'dynamodb:GetItem', true],
    ['dynamodb:?Item', 'dynamodb:GetItem', false],
    ['dynamodb:Get', 'dynamodb:GetItem', false],
    ['kms:GenerateDataKey*', 'kms:GenerateDataKeyWithoutPlaintext', true],
    ['kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext', false],
  ])('Action %s matches %s: %s', (pattern, action, expected) => {
    const policy = [{ Effect: 'Allow', Action: [pattern], Resource: '*' }];
    expect(evaluatePolicy(policy, get({}, action)).decision).toBe(expected ? 'allow' : 'implicit-deny');
  });

  it.each([
    [TABLE, TABLE, true],
    ['arn:aws:dynamodb:*:*:table/egg', TABLE, true],
    ['arn:aws:dynamodb:us-east-1:123456789012:table/*', TABLE, true],
    ['arn:aws:dynamodb:us-east-1:123456789012:table/egg*', `${TABLE}/index/by-name`, true],
    ['arn:aws:dynamodb:us-east-1:123456789012:table/EGG', TABLE, false],
    ['arn:aws:dynamodb:us-east-1:123456789012:table/eg?', TABLE, true],
    ['arn:aws:dynamodb:us-east-1:999999999999:table/egg', TABLE, false],
    ['*', TABLE, true],
  ])('Resource %s matches %s: %s', (pattern, resource, expected) => {
    const policy = [{ Effect: 'Allow', Action: '*', Resource: pattern }];
    expect(evaluatePolicy(policy, get({}, 'dynamodb:GetItem', resource)).decision).toBe(
      expected ? 'allow' : 'implicit-deny',
    );
  });

  it('refuses a Resource that is not an ARN rather than letting a `*` span components', () => {
    const policy = [{ Effect: 'Allow', Action: '*', Resource: 'arn:aws:dynamodb:*:table/egg' }];
    expect(() => evaluatePolicy(policy, get())).toThrow(
      'Resource arn:aws:dynamodb:*:table/egg is not an ARN or "*"',
    );
  });

  it('applies NotAction and NotResource to everything they do not list', () => {
    const policy = [{ Effect: 'Allow', NotAction: 'dynamodb:Scan', NotResource: `${TABLE}-audit` }];
    expect(evaluatePolicy(policy, get()).decision).toBe('allow');
    expect(evaluatePolicy(policy, get({}, 'dynamodb:Scan')).decision).toBe('implicit-deny');
    expect(evaluatePolicy(policy, get({}, 'dynamodb:GetItem', `${TABLE}-audit`)).decision).toBe(
      'implicit-deny',
    );
  });

  it('refuses statements it cannot read rather than guessing', () => {
    expect(() => evaluatePolicy([{ Effect: 'allow', Action: '*', Resource: '*' }], get())).toThrow(
      'Statement[0]: Effect must be "Allow" or "Deny", not "allow"',
    );
    expect(() => evaluatePolicy([{ Effect: 'Allow', Action: '*' }], get())).toThrow(
      'Statement[0]: no Resource or NotResource',
    );
    expect(() =>
      evaluatePolicy([{ Effect: 'Allow', Action: '*', Resource: '*', Principal: '*' }], get()),
    ).toThrow('an identity-based policy has no Principal');
  });
});

describe('Condition: keys AND, values OR, operators AND', () => {
  const context = { 'kms:EncryptionContext:namespace': 'a', 'kms:EncryptionContext:secret': 'API_KEY' };

  it.each([
    ['one key, one value', { StringEquals: { 'kms:EncryptionContext:namespace': 'a' } }, true],
    ['one key, values OR', { StringEquals: { 'kms:EncryptionContext:namespace': ['b', 'a'] } }, true],
    ['one key, no value matches', { StringEquals: { 'kms:EncryptionContext:namespace': ['b', 'c'] } }, false],
    [
      'two keys AND, both hold',
      { StringEquals: { 'kms:EncryptionContext:namespace': 'a', 'kms:EncryptionContext:secret': 'API_KEY' } },
      true,
    ],
    [
      'two keys AND, one fails',
      { StringEquals: { 'kms:EncryptionContext:namespace': 'a', 'kms:EncryptionContext:secret': 'OTHER' } },
      false,
    ],
    [
      'two operators AND, one fails',
      {
        StringEquals: { 'kms:EncryptionContext:namespace': 'a' },
        StringLike: { 'kms:EncryptionContext:secret': 'DB_*' },
      },
      false,
    ],
    ['key names case-insensitively', { StringEquals: { 'KMS:encryptioncontext:NAMESPACE': 'a' } }, true],
    ['values case-sensitively', { StringEquals: { 'kms:EncryptionContext:namespace': 'A' } }, false],
  ])('%s', (_, condition, expected) => {
    expect(evaluatePolicy(allowIf(condition), get(context)).decision).toBe(
      expected ? 'allow' : 'implicit-deny',
    );
  });
});

describe('condition operators', () => {
  const present = { 'aws:PrincipalArn': ROLE, 'kms:MessageType': 'RAW', 'aws:SecureTransport': 'true' };
  it.each([
    ['StringEquals', 'kms:MessageType', 'RAW', true],
    ['StringEquals', 'kms:MessageType', 'R*', false],
    ['StringNotEquals', 'kms:MessageType', 'DIGEST', true],
    ['StringNotEquals', 'kms:MessageType', ['DIGEST', 'RAW'], false],
    ['StringEqualsIgnoreCase', 'kms:MessageType', 'raw', true],
    ['StringLike', 'kms:MessageType', 'R?W', true],
    ['StringLike', 'kms:MessageType', 'r*', false],
    ['StringNotLike', 'kms:MessageType', 'D*', true],
    ['ArnEquals', 'aws:PrincipalArn', ROLE, true],
    ['ArnEquals', 'aws:PrincipalArn', 'arn:aws:iam::123456789012:role/egg-ci-*', true],
    ['ArnLike', 'aws:PrincipalArn', 'arn:aws:iam::*:role/egg-ci-?', true],
    ['ArnLike', 'aws:PrincipalArn', OTHER_ROLE, false],
    ['ArnLike', 'aws:PrincipalArn', 'arn:aws:iam::*', false],
    ['ArnNotEquals', 'aws:PrincipalArn', OTHER_ROLE, true],
    ['Bool', 'aws:SecureTransport', 'true', true],
    ['Bool', 'aws:SecureTransport', false, false],
    ['Null', 'aws:SecureTransport', 'false', true],
    ['Null', 'kms:ViaService', 'true', true],
    ['Null', 'kms:ViaService', 'false', false],
  ])('%s %s %j: %s', (operator, key, value, expected) => {
    const decision = evaluatePolicy(allowIf({ [operator]: { [key]: value } }), get(present)).decision;
    expect(decision).toBe(expected ? 'allow' : 'implicit-deny');
  });

  it.each([
    ['StringEquals', false],
    ['StringLike', false],
    ['ArnEquals', false],
    ['StringNotEquals', true],
    ['StringNotLike', true],
    ['ArnNotLike', true],
    ['StringEqualsIfExists', true],
    ['ArnLikeIfExists', true],
  ])('%s on an absent key holds: %s', (operator, expected) => {
    const decision = evaluatePolicy(allowIf({ [operator]: { 'kms:ViaService': 'x' } }), get({})).decision;
    expect(decision).toBe(expected ? 'allow' : 'implicit-deny');
  });

  it('checks an IfExists operator when the key is present', () => {
    const policy = allowIf({
      StringEqualsIfExists: { 'kms:ViaService': 'dynamodb.us-east-1.amazonaws.com' },
    });
    expect(
      evaluatePolicy(policy, get({ 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' })).decision,
    ).toBe('implicit-deny');
  });

  it('refuses what it does not model', () => {
    expect(() =>
      evaluatePolicy(allowIf({ NumericLessThan: { 'aws:MultiFactorAuthAge': '3600' } }), get()),
    ).toThrow('S: the condition operator NumericLessThan is not modeled');
    expect(() =>
      evaluatePolicy(allowIf({ StringLike: { 'aws:PrincipalArn': '${aws:username}' } }), get()),
    ).toThrow('policy variables');
    expect(() =>
      evaluatePolicy(
        allowIf({ StringEquals: { 'dynamodb:LeadingKeys': 'a' } }),
        get({ 'dynamodb:LeadingKeys': ['a', 'b'] }),
      ),
    ).toThrow('without ForAllValues/ForAnyValue on a key with 2 values');
  });
});

describe('set qualifiers', () => {
  const forAll = allowIf({ 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['a'] } });
  const forAny = allowIf({ 'ForAnyValue:StringEquals': { 'dynamodb:LeadingKeys': ['a'] } });
  const keys = (...values: string[]) => ({ 'dynamodb:LeadingKeys': values });

  it.each([
    [['a'], true],
    [['a', 'a'], true],
    [['b'], false],
    [['a', 'b'], false],
  ])('ForAllValues: every request value must be listed (%j → %s)', (values, expected) => {
    expect(evaluatePolicy(forAll, get(keys(...values))).decision).toBe(expected ? 'allow' : 'implicit-deny');
  });

  it('ForAllValues holds when the request has no value at all (the pitfall: Scan has no leading key)', () => {
    expect(evaluatePolicy(forAll, get({})).decision).toBe('allow');
    expect(evaluatePolicy(forAll, get(keys())).decision).toBe('allow');
    const scan = [
      { Effect: 'Allow', Action: 'dynamodb:Scan', Resource: TABLE, Condition: forAll[0]?.Condition },
    ];
    expect(evaluatePolicy(scan, get({}, 'dynamodb:Scan')).decision).toBe('allow');
    // The documented guard: Null false requires the key to be there.
    const guarded = allowIf({
      'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['a'] },
      Null: { 'dynamodb:LeadingKeys': 'false' },
    });
    expect(evaluatePolicy(guarded, get({})).decision).toBe('implicit-deny');
    expect(evaluatePolicy(guarded, get(keys('a'))).decision).toBe('allow');
  });

  it.each([
    [['a'], true],
    [['b', 'a'], true],
    [['b'], false],
    [[], false],
  ])('ForAnyValue: one listed request value is enough, none is not (%j → %s)', (values, expected) => {
    expect(evaluatePolicy(forAny, get(keys(...values))).decision).toBe(expected ? 'allow' : 'implicit-deny');
  });

  it('ForAnyValue on an absent key is false', () => {
    expect(evaluatePolicy(forAny, get({})).decision).toBe('implicit-deny');
  });

  it('applies the qualified operator to each value: ForAllValues:StringNotLike, ForAnyValue:StringLike', () => {
    const notAudit = allowIf({ 'ForAllValues:StringNotLike': { 'dynamodb:LeadingKeys': 'audit#*' } });
    expect(evaluatePolicy(notAudit, get(keys('a', 'b'))).decision).toBe('allow');
    expect(evaluatePolicy(notAudit, get(keys('a', 'audit#a'))).decision).toBe('implicit-deny');
    const anyAudit = allowIf({ 'ForAnyValue:StringLike': { 'dynamodb:LeadingKeys': 'audit#*' } });
    expect(evaluatePolicy(anyAudit, get(keys('a', 'audit#a'))).decision).toBe('allow');
  });
});

describe('wildcards', () => {
  it.each([
    ['*', '', true],
    ['a*c', 'abbbc', true],
    ['a*c', 'ac', true],
    ['a?c', 'ac', false],
    ['a?c', 'abc', true],
    ['a.c', 'abc', false],
    ['(a)+', '(a)+', true],
    ['a*', 'a\nb', true],
  ])('iamGlob(%j, %j) is %s', (pattern, value, expected) => {
    expect(iamGlob(pattern, value)).toBe(expected);
  });

  it('matches ARNs component by component', () => {
    expect(arnMatches('arn:aws:iam::*:role/*', ROLE)).toBe(true);
    expect(arnMatches('arn:aws:iam::123456789012:role/egg-ci-a', ROLE)).toBe(true);
    expect(arnMatches('arn:aws:*', ROLE)).toBe(false);
    expect(arnMatches('not-an-arn', 'not-an-arn')).toBe(false);
  });
});

describe('CloudFormation intrinsics', () => {
  const resolve = cfnResolver({
    account: '123456789012',
    region: 'us-east-1',
    attributes: { 'TableCD117FA1.Arn': TABLE, 'DataKey17AFBB84.Arn': KEY, 'GrantA40754F56.Arn': ROLE },
    refs: { TableCD117FA1: 'egg' },
  });
  const statement: PolicyStatement = {
    Sid: 'NamespaceItems',
    Effect: 'Allow',
    Action: ['dynamodb:GetItem'],
    Resource: { 'Fn::GetAtt': ['TableCD117FA1', 'Arn'] },
    Condition: {
      'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['a'] },
      StringEquals: {
        'aws:RequestedRegion': { Ref: 'AWS::Region' },
        'aws:ResourceName': { Ref: 'TableCD117FA1' },
      },
    },
  };

  it('resolves Fn::GetAtt, Ref and pseudo parameters through the resolver', () => {
    const context = {
      'dynamodb:LeadingKeys': ['a'],
      'aws:RequestedRegion': 'us-east-1',
      'aws:ResourceName': 'egg',
    };
    expect(evaluatePolicy([statement], get(context), { resolve })).toEqual({
      decision: 'allow',
      statement: 'NamespaceItems',
    });
  });

  it('evaluates Fn::Join itself', () => {
    const joined: PolicyStatement = {
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: '*',
      Condition: {
        StringEquals: {
          'kms:ViaService': { 'Fn::Join': ['', ['dynamodb.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
        },
      },
    };
    const request = get({ 'kms:ViaService': 'dynamodb.us-east-1.amazonaws.com' }, 'kms:Decrypt', KEY);
    expect(evaluatePolicy([joined], request, { resolve }).decision).toBe('allow');
  });

  it('names roles and tables from the template, and keys by a stand-in for their logical id', () => {
    const template = {
      Resources: {
        Role: { Type: 'AWS::IAM::Role', Properties: {} },
        NamedRole: { Type: 'AWS::IAM::Role', Properties: { RoleName: 'egg-ci', Path: '/ci/' } },
        Table: { Type: 'AWS::DynamoDB::Table', Properties: { TableName: 'egg' } },
        Key: { Type: 'AWS::KMS::Key', Properties: {} },
      },
    };
    const fromTemplate = cfnResolver({ account: '123456789012', region: 'us-east-1', template });
    expect(fromTemplate({ 'Fn::GetAtt': ['Role', 'Arn'] })).toBe('arn:aws:iam::123456789012:role/Role');
    expect(fromTemplate({ 'Fn::GetAtt': 'NamedRole.Arn' })).toBe('arn:aws:iam::123456789012:role/ci/egg-ci');
    expect(fromTemplate({ Ref: 'NamedRole' })).toBe('egg-ci');
    expect(fromTemplate({ 'Fn::GetAtt': ['Table', 'Arn'] })).toBe(TABLE);
    expect(fromTemplate({ Ref: 'Table' })).toBe('egg');
    expect(fromTemplate({ 'Fn::GetAtt': ['Key', 'Arn'] })).toBe('arn:aws:kms:us-east-1:123456789012:key/Key');
    expect(fromTemplate({ 'Fn::GetAtt': ['Table', 'StreamArn'] })).toBeUndefined();
  });

  it('throws on an intrinsic nobody resolves, instead of treating it as a mismatch', () => {
    expect(() => evaluatePolicy([statement], get({}))).toThrow(
      'NamespaceItems Resource: unresolved intrinsic {"Fn::GetAtt":["TableCD117FA1","Arn"]}; pass a resolver that knows it',
    );
    const unknown = { ...statement, Resource: { 'Fn::GetAtt': ['Nope', 'Arn'] } };
    expect(() => evaluatePolicy([unknown], get({}), { resolve })).toThrow('unresolved intrinsic');
  });
});

describe('key policies (resource-based) with identity policies', () => {
  const resolve = cfnResolver({
    account: '123456789012',
    region: 'us-east-1',
    attributes: { 'GrantA.Arn': ROLE },
  });
  const accountRoot = {
    AWS: {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']],
    },
  };
  const namespace = (value: string) => ({
    'kms:EncryptionContext:namespace': value,
    'aws:PrincipalArn': ROLE,
  });
  const decrypt = (context: Record<string, ContextValue>) => get(context, 'kms:Decrypt', KEY);
  /** The stack's shape: the account root, confined to one role by aws:PrincipalArn. */
  const keyPolicy: PolicyStatement[] = [
    {
      Sid: 'NamespaceGrantA',
      Effect: 'Allow',
      Principal: accountRoot,
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Resource: '*',
      Condition: {
        StringEquals: { 'kms:EncryptionContext:namespace': 'a' },
        ArnEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': ['GrantA', 'Arn'] } },
      },
    },
  ];
  const identity: PolicyStatement[] = [
    {
      Sid: 'NamespaceDataKeys',
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: KEY,
      Condition: { StringEquals: { 'kms:EncryptionContext:namespace': 'a' } },
    },
  ];

  it('a key policy naming the account delegates to IAM: both must allow', () => {
    expect(
      evaluateKeyAccess(
        { identity, keyPolicy },
        decrypt(namespace('a')),
        { principalArn: ROLE },
        { resolve },
      ),
    ).toEqual({ decision: 'allow', statement: 'NamespaceDataKeys', policy: 'identity' });
    expect(
      evaluateKeyAccess(
        { identity: [], keyPolicy },
        decrypt(namespace('a')),
        { principalArn: ROLE },
        { resolve },
      ),
    ).toEqual({
      decision: 'implicit-deny',
      policy: 'identity',
    });
  });

  it('without a key policy statement that allows, IAM policies have no effect', () => {
    const other = { ...namespace('a'), 'aws:PrincipalArn': OTHER_ROLE };
    expect(
      evaluateKeyAccess({ identity, keyPolicy }, decrypt(other), { principalArn: OTHER_ROLE }, { resolve }),
    ).toEqual({
      decision: 'implicit-deny',
      policy: 'key',
    });
    expect(
      evaluateKeyAccess(
        { identity, keyPolicy },
        decrypt(namespace('b')),
        { principalArn: ROLE },
        { resolve },
      ),
    ).toEqual({ decision: 'implicit-deny', policy: 'key' });
    expect(
      evaluateKeyAccess({ identity, keyPolicy: [] }, decrypt(namespace('a')), { principalArn: ROLE }),
    ).toEqual({
      decision: 'implicit-deny',
      policy: 'key',
    });
  });

  it('a key policy naming the principal itself grants without an identity policy', () => {
    const direct = [
      { Sid: 'Direct', Effect: 'Allow', Principal: { AWS: ROLE }, Action: 'kms:*', Resource: '*' },
    ];
    expect(evaluateResourcePolicy(direct, decrypt({}), { principalArn: ROLE })).toEqual({
      decision: 'allow',
      statement: 'Direct',
      grantee: 'principal',
    });
    expect(
      evaluateKeyAccess({ identity: [], keyPolicy: direct }, decrypt({}), { principalArn: ROLE }),
    ).toEqual({
      decision: 'allow',
      statement: 'Direct',
      policy: 'key',
    });
    expect(
      evaluateKeyAccess({ identity: [], keyPolicy: direct }, decrypt({}), { principalArn: OTHER_ROLE }),
    ).toEqual({
      decision: 'implicit-deny',
      policy: 'key',
    });
  });

  it('an explicit deny in either policy wins', () => {
    const deny: PolicyStatement = {
      Sid: 'NoB',
      Effect: 'Deny',
      Principal: '*',
      Action: 'kms:*',
      Resource: '*',
    };
    expect(
      evaluateKeyAccess(
        { identity, keyPolicy: [...keyPolicy, deny] },
        decrypt(namespace('a')),
        { principalArn: ROLE },
        { resolve },
      ),
    ).toEqual({ decision: 'deny', statement: 'NoB', policy: 'key' });
    const identityDeny = [
      ...identity,
      { Sid: 'Never', Effect: 'Deny', Action: 'kms:Decrypt', Resource: '*' },
    ];
    expect(
      evaluateKeyAccess(
        { identity: identityDeny, keyPolicy },
        decrypt(namespace('a')),
        { principalArn: ROLE },
        { resolve },
      ),
    ).toEqual({ decision: 'deny', statement: 'Never', policy: 'identity' });
  });

  it('ignores statements for service principals', () => {
    const service = [
      { Effect: 'Allow', Principal: { Service: 'dynamodb.amazonaws.com' }, Action: '*', Resource: '*' },
    ];
    expect(evaluateResourcePolicy(service, decrypt({}), { principalArn: ROLE }).decision).toBe(
      'implicit-deny',
    );
  });
});

describe('reading a synthesized template', () => {
  const template = {
    Resources: {
      Role1: {
        Type: 'AWS::IAM::Role',
        Properties: { Policies: [{ PolicyDocument: { Statement: [{ Sid: 'Inline' }] } }] },
      },
      Role1Policy: {
        Type: 'AWS::IAM::Policy',
        Properties: { Roles: [{ Ref: 'Role1' }], PolicyDocument: { Statement: [{ Sid: 'Attached' }] } },
      },
      Role2Policy: {
        Type: 'AWS::IAM::Policy',
        Properties: { Roles: [{ Ref: 'Role2' }], PolicyDocument: { Statement: [{ Sid: 'Other' }] } },
      },
      Key: { Type: 'AWS::KMS::Key', Properties: { KeyPolicy: { Statement: [{ Sid: 'KeyAdmin' }] } } },
    },
  };

  it('collects a role’s inline and attached statements, and a key’s policy', () => {
    expect(roleStatementsFromTemplate(template, 'Role1').map((s) => s.Sid)).toEqual(['Inline', 'Attached']);
    expect(keyPolicyFromTemplate(template, 'Key').map((s) => s.Sid)).toEqual(['KeyAdmin']);
    expect(() => roleStatementsFromTemplate(template, 'Key')).toThrow(
      'Key is not an AWS::IAM::Role in the template',
    );
  });
});
