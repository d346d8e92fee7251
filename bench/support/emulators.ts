/** DynamoDB Local and moto for a benchmark, with the SDK's fake credentials set (as the tests do). */
import { startDynamoDbLocal } from '../../test/support/dynamodb-local.js';
import { FAKE_AWS_ENV } from '../../test/support/global-setup.js';
import { startMoto } from '../../test/support/moto.js';

export async function startEmulators() {
  Object.assign(process.env, FAKE_AWS_ENV);
  const [dynamo, moto] = await Promise.all([startDynamoDbLocal(), startMoto()]);
  return {
    dynamo,
    moto,
    stop: () => Promise.all([dynamo.service.stop(), moto.service.stop()]),
  };
}
