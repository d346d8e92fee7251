/**
 * The tests `npm run mutate` runs (stryker.config.json): the unit tests of the security
 * modules, with no loopback services (no DynamoDB Local, no moto). Stryker's `testFiles`
 * option would leave module-level mutants unactivated, so the selection lives here, and
 * Stryker runs, for each mutant, the tests of this list that cover it.
 *
 * `EGG_MUTATION=1` tells the few long randomised tests to take fewer rounds (each mutant
 * they cover runs them again); the fixed tables beside them keep their full size.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'test/unit/action-inputs.test.ts',
      'test/unit/action-masks.test.ts',
      'test/unit/audit.test.ts',
      'test/unit/crypto.test.ts',
      'test/unit/formats.test.ts',
      'test/unit/import-formats.test.ts',
      'test/unit/mask.test.ts',
      'test/unit/memory-seal.test.ts',
      'test/unit/origin-binding.test.ts',
      'test/unit/proxy-checks.test.ts',
      'test/unit/proxy-framing.test.ts',
      'test/unit/sealed-keys.test.ts',
      'test/unit/stored-formats.test.ts',
      'test/unit/token-claims.test.ts',
      'test/unit/token-times.test.ts',
      'test/unit/tokens.test.ts',
    ],
    pool: 'forks',
    testTimeout: 60_000,
    disableConsoleIntercept: true,
    env: { EGG_MUTATION: '1', EGG_TEST_SERVICES: '0' },
  },
});
