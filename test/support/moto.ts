/**
 * moto's server (Python, preinstalled) for KMS (and later STS): real data keys, encryption
 * context checked on Decrypt. Bound to 127.0.0.1 on a port the kernel picks (`-p 0`; moto
 * prints the port it got).
 */
import { type RunningService, ready } from './dynamodb-local.js';
import { startService } from './service.js';

export async function startMoto(): Promise<RunningService> {
  const service = startService('moto', 'moto_server', ['-H', '127.0.0.1', '-p', '0'], {
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  let url: string | undefined;
  try {
    [, url] = await service.waitFor(/Running on (http:\/\/127\.0\.0\.1:\d+)/, 60_000);
  } catch (error) {
    await service.stop();
    throw error;
  }
  // The first KMS call loads moto's KMS backend: pay for it here, not in a test's timeout.
  const { KMSClient, ListKeysCommand } = await import('@aws-sdk/client-kms');
  return ready(
    'moto',
    service,
    url as string,
    (config) => new KMSClient(config),
    (client) => client.send(new ListKeysCommand({})),
  );
}
