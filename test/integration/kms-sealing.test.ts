/**
 * The sealing key on aws (src/keyrings/kms-sealing.ts) against moto: GetPublicKey of a real
 * RSA_3072 ENCRYPT_DECRYPT key, the checks of what the configured key is, and the backend's
 * `EGG_SEALING_KEY_ID`. moto 5.2 cannot decrypt RSA ciphertexts (its Decrypt reads every
 * blob as its own symmetric format and answers InvalidCiphertextException), so Decrypt with
 * RSAES_OAEP_SHA_256 runs against the loopback fake in test/support/proxy-fake-kms.ts (and
 * through the proxy in proxy-sealed.test.ts).
 */
import { CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKmsClient } from '../../src/aws/clients.js';
import { openAwsBackend } from '../../src/backends/aws.js';
import type { EggConfig } from '../../src/config.js';
import { seal, sealingKid } from '../../src/crypto/seal.js';
import { KmsSealingKey } from '../../src/keyrings/kms-sealing.js';
import { createTestKmsKey, createTestTable, useTestAws } from '../support/aws.js';
import { type FakeKms, startFakeKmsSealer } from '../support/proxy-fake-kms.js';

describe('the KMS sealing key', () => {
  let kms: KMSClient;
  let rsaKey: string;
  let sealer: FakeKms;

  beforeAll(async () => {
    const aws = useTestAws();
    kms = await createKmsClient();
    const { KeyMetadata } = await kms.send(
      new CreateKeyCommand({
        KeySpec: 'RSA_3072',
        KeyUsage: 'ENCRYPT_DECRYPT',
        Description: 'egg sealing test',
      }),
    );
    rsaKey = KeyMetadata?.Arn as string;
    sealer = await startFakeKmsSealer({ forward: aws.moto });
  });
  afterAll(async () => {
    kms?.destroy();
    await sealer?.close();
  });

  it("reads an RSA_3072 key's public key from moto, its kid the SPKI thumbprint", async () => {
    const sealing = new KmsSealingKey({ client: kms, keyId: rsaKey });
    const key = await sealing.publicKey();
    const spki = Buffer.from(key.spki, 'base64url');
    expect(
      createPublicKey({ key: spki, format: 'der', type: 'spki' }).asymmetricKeyDetails?.modulusLength,
    ).toBe(3072);
    expect(key.kid).toBe(sealingKid(spki));
    // Fetched once per process.
    expect(await sealing.publicKey()).toBe(key);
  });

  it('refuses a symmetric key as the sealing key, naming the setting', async () => {
    const symmetric = await createTestKmsKey(kms);
    const sealing = new KmsSealingKey({ client: kms, keyId: symmetric });
    await expect(sealing.publicKey()).rejects.toMatchObject({
      code: 'ERR_KMS',
      message: `the sealing key ${symmetric} is SYMMETRIC_DEFAULT, not RSA_3072 for ENCRYPT_DECRYPT`,
      hint: "set EGG_SEALING_KEY_ID to an RSA_3072 ENCRYPT_DECRYPT key (the stack's SealingKeyArn output)",
    });
  });

  it('unwraps with Decrypt naming the configured key and RSAES_OAEP_SHA_256', async () => {
    const client = await createKmsClient({ endpoint: sealer.endpoint });
    const sealing = new KmsSealingKey({ client, keyId: sealer.keyArn, ownsClient: true });
    try {
      const publicKey = await sealing.publicKey();
      const blob = await seal({
        publicKey,
        namespace: 'acme/web',
        name: 'OPENAI_KEY',
        value: Buffer.from('sk-x'),
      });
      const dataKey = await sealing.unwrap(
        Buffer.from(blob.wrappedKey, 'base64url'),
        blob.kid,
        'the sealed key',
      );
      expect(dataKey.length).toBe(32);
      expect(sealer.calls.slice(-2)).toEqual(['GetPublicKey', 'Decrypt']);
      // Another kid is refused before KMS is asked.
      await expect(
        sealing.unwrap(
          Buffer.from(blob.wrappedKey, 'base64url'),
          'rsa:AAAAAAAAAAAAAAAAAAAAAA',
          'the sealed key',
        ),
      ).rejects.toMatchObject({ code: 'ERR_DECRYPTION_FAILED' });
      expect(sealer.calls.at(-1)).toBe('Decrypt');
      expect(sealer.calls.filter((c) => c === 'Decrypt')).toHaveLength(1);
    } finally {
      sealing.close();
    }
  });

  it('is EGG_SEALING_KEY_ID on the aws backend, and says how to set it when missing', async () => {
    const config: EggConfig = {
      backend: 'aws',
      home: '',
      namespace: 'acme/web',
      keyring: 'kms',
      rotation: 'inline',
      table: await createTestTable('egg-sealing'),
      kmsKeyId: await createTestKmsKey(kms),
    };
    const without = await openAwsBackend(config, { actor: 'test' });
    const withKey = await openAwsBackend({ ...config, sealingKeyId: rsaKey }, { actor: 'test' });
    try {
      await expect(without.sealing.publicKey()).rejects.toMatchObject({
        code: 'ERR_INVALID_CONFIG',
        message: 'no sealing key is set, and sealed provider keys need one',
        hint: "set EGG_SEALING_KEY_ID to the stack's SealingKeyArn output",
      });
      expect((await withKey.sealing.publicKey()).kid).toMatch(/^rsa:/);
    } finally {
      await Promise.all([without.close(), withKey.close()]);
    }
  });
});
