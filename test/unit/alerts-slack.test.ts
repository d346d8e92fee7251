import { describe, expect, it } from 'vitest';
import type { AlertBody } from '../../src/alerts/alerts.js';
import { slackBody } from '../../src/alerts/slack.js';

const alert: AlertBody = {
  type: 'egg.alert',
  id: '5b7e0c1a-0000-4000-8000-000000000001',
  namespace: 'acme/web',
  tokenId: '3q2-7wZbQ0mB1cXyT4uVnA',
  rule: 'refusal-burst',
  figures: { invalidToken: 12, refusedOrigin: 12, threshold: 20 },
  time: '2026-12-03T11:02:07.411Z',
  throttle: { rps: 1, until: '2026-12-03T11:17:07.000Z' },
};

describe('slackBody', () => {
  it('names the namespace, the token id, the rule, the figures, the time and the throttle', () => {
    expect(JSON.parse(slackBody(alert))).toEqual({
      text: 'Egg Carton alert: refusal-burst on token 3q2-7wZbQ0mB1cXyT4uVnA in acme/web',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'Egg Carton alert' } },
        {
          type: 'section',
          fields: [
            { type: 'mrkdwn', text: '*Namespace*\n`acme/web`' },
            { type: 'mrkdwn', text: '*Token id*\n`3q2-7wZbQ0mB1cXyT4uVnA`' },
            { type: 'mrkdwn', text: '*Rule*\n`refusal-burst`' },
            { type: 'mrkdwn', text: '*Time*\n`2026-12-03T11:02:07.411Z`' },
          ],
        },
        {
          type: 'section',
          text: { type: 'mrkdwn', text: '*Figures*\n`invalidToken=12  refusedOrigin=12  threshold=20`' },
        },
        {
          type: 'context',
          elements: [
            {
              type: 'mrkdwn',
              text: 'Throttled to 1 request/s at every proxy until 2026-12-03T11:17:07.000Z: lift it with egg tokens unthrottle 3q2-7wZbQ0mB1cXyT4uVnA, or revoke the token if it leaked.',
            },
          ],
        },
        {
          type: 'context',
          elements: [{ type: 'mrkdwn', text: 'alert 5b7e0c1a-0000-4000-8000-000000000001' }],
        },
      ],
    });
  });

  it('says a test alert is a test and leaves out empty figures', () => {
    const body = JSON.parse(slackBody({ ...alert, tokenId: '-', rule: 'test', figures: {}, test: true })) as {
      text: string;
      blocks: { type: string }[];
    };
    expect(body.text).toBe('Egg Carton test alert for acme/web');
    expect(body.blocks.map((b) => b.type)).toEqual(['header', 'section', 'context', 'context']);
  });

  it('never lets a value become a Slack link or mention', () => {
    const body = slackBody({ ...alert, namespace: '<!channel>', rule: '<https://evil.example|x>&' });
    expect(body).not.toMatch(/<!channel>|<https:/);
    expect(JSON.parse(body).text).toBe(
      'Egg Carton alert: &lt;https://evil.example|x&gt;&amp; on token 3q2-7wZbQ0mB1cXyT4uVnA in &lt;!channel&gt;',
    );
  });
});
