/**
 * Placeholder replaced by the DynamoDB + KMS backend.
 */
import type { EggConfig } from '../config.js';
import { EggError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Backend } from '../open.js';

export async function openAwsBackend(_config: EggConfig, _options: { logger: Logger }): Promise<Backend> {
  throw new EggError('ERR_INVALID_CONFIG', 'the aws backend is not built yet');
}
