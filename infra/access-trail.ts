/**
 * The CloudTrail trail `--cloudtrail` adds: the authoritative record of who read what.
 * The audit trail in the table is written by its own clients (SECURITY.md); CloudTrail is
 * written by AWS. This trail logs
 * - management events, read and write, KMS included: every `Decrypt`, `GenerateDataKey`
 *   and `Sign` on the stack's keys is a (read) management event with the caller and the
 *   encryption context, i.e. the namespace and the secret name ("Logging AWS KMS API calls
 *   with AWS CloudTrail", KMS Developer Guide). KMS has no data events; a trail logs its
 *   events unless told to exclude them, and this one does not;
 * - data events for the vault table, read and write: every `GetItem`, `BatchGetItem`,
 *   `Query`, `PutItem`, `UpdateItem`, `DeleteItem` with the caller and the item's key, never
 *   the other attribute values ("Non key attribute values … will not appear in logs of
 *   actions using the classic API", DynamoDB Developer Guide).
 * Log file integrity validation is on. The logs go to a bucket of their own: private,
 * encrypted (SSE-S3), versioned, TLS only, kept when the stack is deleted.
 */
import { CfnOutput, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudtrail from 'aws-cdk-lib/aws-cloudtrail';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acceptFinding } from './nag.js';

/**
 * The basic event selector's resource type for DynamoDB tables ("DataResource", CloudTrail
 * API Reference: `AWS::DynamoDB::Table` is one of the three types basic selectors take).
 * aws-cdk-lib's `DataResourceType` enum lists only Lambda and S3, and passes the value through.
 */
const DYNAMODB_TABLE = 'AWS::DynamoDB::Table' as cloudtrail.DataResourceType;

export interface AccessTrailProps {
  table: dynamodb.Table;
}

export class AccessTrail extends Construct {
  readonly trail: cloudtrail.Trail;
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: AccessTrailProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Logs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acceptFinding(
      this.bucket,
      'S1',
      'the bucket holds CloudTrail log files, which file validation (signed digest files) already makes tamper-evident; server access logs would need a second bucket, whose own reads would go unlogged in turn',
    );
    this.trail = new cloudtrail.Trail(this, 'Trail', {
      // (The cast: aws-cdk-lib's declarations predate `exactOptionalPropertyTypes`.)
      bucket: this.bucket as unknown as s3.IBucket,
      // The keys and the table live in the stack's region, and so do the calls on them.
      isMultiRegionTrail: false,
      enableFileValidation: true,
      includeGlobalServiceEvents: true,
    });
    // One selector: the table's data events, and all management events (KMS included).
    this.trail.addEventSelector(DYNAMODB_TABLE, [props.table.tableArn], {
      readWriteType: cloudtrail.ReadWriteType.ALL,
      includeManagementEvents: true,
    });
    new CfnOutput(this, 'Bucket', {
      value: this.bucket.bucketName,
      description: 'CloudTrail logs: every KMS call on the keys and every item call on the table',
    }).overrideLogicalId('AccessTrailBucket');
  }
}
