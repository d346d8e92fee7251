/**
 * The cdk-nag AwsSolutions findings this stack accepts. Each is acknowledged on the construct
 * it concerns, where that construct is made, with the reason; the infra tests run the pack
 * as a validation plugin on the synthesized app (test/unit/infra-nag.test.ts), so a new
 * finding fails them until it is fixed or acknowledged here with its reason.
 */
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Accept AwsSolutions `rule` (`IAM5[Resource::*]`, `EC23`…) on `scope` and below, for `reason`. */
export function acceptFinding(scope: IConstruct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions-${rule}`, reason });
}
