/**
 * moto's server (Python, preinstalled) for KMS (and later STS): real data keys, encryption
 * context checked on Decrypt. Bound to 127.0.0.1 on a port the kernel picks (`-p 0`; moto
 * prints the port it got).
 */
import { FAKE_CREDENTIALS, type RunningService, untilAnswers } from './dynamodb-local.js';
import { startService } from './service.js';

export async function startMoto(): Promise<RunningService> {
  const service = startService('moto', 'moto_server', ['-H', '127.0.0.1', '-p', '0'], {
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  try {
    const [, url] = await service.waitFor(/Running on (http:\/\/127\.0\.0\.1:\d+)/, 60_000);
    const endpoint = url as string;
    // The first KMS call loads moto's KMS backend: pay for it here, not in a test's timeout.
    await untilAnswers('moto', async () => {
      const { KMSClient, ListKeysCommand } = await import('@aws-sdk/client-kms');
      const client = new KMSClient({
        endpoint,
        region: 'us-east-1',
        credentials: FAKE_CREDENTIALS,
        maxAttempts: 1,
      });
      try {
        await client.send(new ListKeysCommand({}));
      } finally {
        client.destroy();
      }
    });
    return { endpoint, service };
  } catch (error) {
    await service.stop();
    throw error;
  }
}
