/**
 * What an alert says, in every channel's shape (alerts.ts, slack.ts): the namespace, the token
 * id, the rule, its figures and the time; never a token, a key or a body.
 */

/** The JSON body a receiver gets. */
export interface AlertBody {
  type: 'egg.alert';
  id: string;
  namespace: string;
  tokenId: string;
  rule: string;
  figures: Record<string, number>;
  time: string;
  /** What the proxies do about it now: the token's lower rate until then. */
  throttle?: { rps: number; until: string };
  test?: true;
}
