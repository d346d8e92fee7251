/**
 * An alert in the body Slack's incoming webhooks take (`egg alerts add --shape slack`): a
 * `text` line, which Slack shows in notifications, and Block Kit blocks naming the namespace,
 * the token id, the rule, its figures and the time. It is made from the alert's body alone,
 * so it carries nothing the JSON shape does not: never a token, a key or a body.
 *
 * Slack reads `&`, `<` and `>` in mrkdwn as markup (links, mentions): every value is escaped
 * as Slack says to (api.slack.com/reference/surfaces/formatting#escaping), so a namespace or a
 * figure can never turn into a link or an `@channel`.
 */
import type { AlertBody } from './alert-body.js';

const escape = (text: string): string =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/** A field's mrkdwn: a bold label over its value in code. */
const field = (label: string, value: string) => ({
  type: 'mrkdwn',
  text: `*${label}*\n\`${escape(value)}\``,
});

/** The Slack body of `alert`, as the JSON string to post. */
export function slackBody(alert: AlertBody): string {
  const text = escape(
    alert.test === true
      ? `Egg Carton test alert for ${alert.namespace}`
      : `Egg Carton alert: ${alert.rule} on token ${alert.tokenId} in ${alert.namespace}`,
  );
  const figures = Object.entries(alert.figures)
    .map(([name, value]) => `${name}=${value}`)
    .join('  ');
  const blocks: object[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: alert.test === true ? 'Egg Carton test alert' : 'Egg Carton alert' },
    },
    {
      type: 'section',
      fields: [
        field('Namespace', alert.namespace),
        field('Token id', alert.tokenId),
        field('Rule', alert.rule),
        field('Time', alert.time),
      ],
    },
  ];
  if (figures !== '')
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Figures*\n\`${escape(figures)}\`` } });
  if (alert.throttle !== undefined)
    blocks.push({
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: escape(
            `Throttled to ${alert.throttle.rps} request/s at every proxy until ${alert.throttle.until}: lift it with egg tokens unthrottle ${alert.tokenId}, or revoke the token if it leaked.`,
          ),
        },
      ],
    });
  blocks.push({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: escape(`alert ${alert.id}`) }],
  });
  return JSON.stringify({ text, blocks });
}
