/**
 * `egg alerts test` on aws run by a role that may not publish (src/alerts/aws-channels.ts
 * testAlertDenied): the stack grants sns:Publish on its topic and events:PutEvents on the
 * default bus only to the proxy's task role, so a denied test says which permission on which
 * target, and that the proxy's task role is the one that has it. Anything else is no denial.
 */
import { describe, expect, it } from 'vitest';
import { testAlertDenied } from '../../src/alerts/aws-channels.js';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:egg-alerts';

describe('a test alert the caller’s role may not send', () => {
  it.each(['AuthorizationErrorException', 'AccessDeniedException', 'AccessDenied'])(
    'names sns:Publish on the topic and the proxy’s task role for SNS’s %s',
    (last) => {
      const error = testAlertDenied('sns', TOPIC, { ok: false, last });
      expect(error).toMatchObject({
        code: 'ERR_ACCESS_DENIED',
        message: `access denied: sns:Publish on ${TOPIC}`,
      });
      expect(error?.hint).toMatch(/^the stack lets only the proxy's task role publish to its alerts topic/);
      expect(error?.hint).toContain('sns:Publish on this topic');
    },
  );

  it('names events:PutEvents on the bus and the proxy’s task role for EventBridge', () => {
    const error = testAlertDenied('eventbridge', 'default', { ok: false, last: 'AccessDeniedException' });
    expect(error).toMatchObject({
      code: 'ERR_ACCESS_DENIED',
      message: 'access denied: events:PutEvents on the event bus default',
    });
    expect(error?.hint).toMatch(/^the stack lets only the proxy's task role put events on the default bus/);
    expect(error?.hint).toContain('events:PutEvents on this bus');
  });

  it.each<[string, Parameters<typeof testAlertDenied>]>([
    ['a delivered test', ['sns', TOPIC, { ok: true, last: 'published 1' }]],
    ['a topic that does not exist', ['sns', TOPIC, { ok: false, last: 'NotFoundException' }]],
    ['throttling', ['eventbridge', 'default', { ok: false, last: 'ThrottlingException' }]],
    // A webhook's receiver answering 403 is the receiver's word, not an AWS role's.
    ['a webhook', ['webhook', 'https://hooks.example.com/x', { ok: false, last: 'AccessDenied' }]],
  ])('is no denial for %s', (_name, args) => {
    expect(testAlertDenied(...args)).toBeUndefined();
  });
});
