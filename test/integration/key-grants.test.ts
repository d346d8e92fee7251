/**
 * A key administrator cannot give itself the data key (issue 9, item 16): its
 * `kms:CreateGrant` to itself, a real SDK request, is refused by the synthesized key policy
 * at the IAM gateway in front of moto's KMS, although its IAM policy allows `kms:*` and the
 * key policy names it as an administrator. Its administration still works.
 */
import { CreateGrantCommand, DescribeKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGrants } from '../../infra/grants.js';
import { createKmsClient } from '../../src/aws/clients.js';
import { useTestAws } from '../support/aws.js';
import { type IamGateway, startIamGateway } from '../support/iam-gateway.js';
import { keyPolicyFromTemplate } from '../support/iam-policy.js';
import { type StackUnderTest, synthesizeForTest, TEST_ACCOUNT } from '../support/stack-roles.js';

const ADMIN = `arn:aws:iam::${TEST_ACCOUNT}:role/platform-admins`;

let sut: StackUnderTest;
let gateway: IamGateway;
let kms: KMSClient;

beforeAll(async () => {
  sut = await synthesizeForTest({
    grants: parseGrants(
      JSON.stringify([
        { namespace: 'acme/keys/prod', subjects: ['repo:acme@1001/keys@2005:environment:prod'] },
      ]),
    ),
    keyAdminArns: [ADMIN],
  });
  const aws = useTestAws();
  gateway = await startIamGateway({
    dynamodbEndpoint: aws.dynamodb,
    kmsEndpoint: aws.moto,
    principalArn: ADMIN,
    policies: [{ Effect: 'Allow', Action: 'kms:*', Resource: '*' }],
    keyPolicies: { [sut.keyArn]: keyPolicyFromTemplate(sut.template, sut.logicalId(sut.stack.key)) },
    resolve: sut.resolve,
  });
  kms = await createKmsClient({ endpoint: gateway.kmsEndpoint });
});

afterAll(async () => {
  kms?.destroy();
  await gateway?.close();
  await sut?.close();
});

describe('a key administrator', () => {
  it('is refused a CreateGrant of Decrypt to itself', async () => {
    await expect(
      kms.send(
        new CreateGrantCommand({ KeyId: sut.keyArn, GranteePrincipal: ADMIN, Operations: ['Decrypt'] }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(gateway.denied.at(-1)).toMatchObject({
      action: 'kms:CreateGrant',
      decision: 'deny',
      statement: 'GrantsOnlyForAwsResources',
      context: expect.objectContaining({
        'kms:GrantIsForAWSResource': 'false',
        'kms:GranteePrincipal': ADMIN,
        'kms:GrantOperations': ['Decrypt'],
      }),
    });
  });

  it('still administers the key', async () => {
    const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: sut.keyArn }));
    expect(KeyMetadata?.Arn).toBe(sut.keyArn);
  });
});
