/**
 * The Action's `rotate-tokens`: each token a release shipped gets a successor with the same
 * claims and tags (Tokens.rotate), masked at once, and stops being accepted when its grace
 * ends. The successors are what the release ships next, so they are never recorded for the
 * post step (it revokes only what `mint-tokens` minted); the old tokens' revocations are
 * entries every proxy enforces by its own clock, which the post step never touches.
 */
import type { TokensPort } from '../backends/vault-port.js';
import { maskForms } from '../run/mask-forms.js';
import type { RotatedToken } from '../tokens/tokens.js';
import type { ActionInputs } from './inputs.js';
import type { Runner } from './runner.js';

/** One rotation done: the output name and what Tokens.rotate returned. */
export interface Rotation {
  name: string;
  rotated: RotatedToken;
}

/** The rotations done, and how to void their successors if the step fails before its outputs. */
export interface Rotations {
  done: Rotation[];
  undo(): Promise<void>;
}

/**
 * Rotate every `rotate-tokens` token through the step's tokens (on aws its STS session signs
 * with signing-key-id; on api the server signs). Every id is checked first, so an unknown or
 * inactive one fails the step before any token is rotated; a rotation that fails part-way
 * revokes the successors already minted, as `egg tokens rotate` revokes its own when the old
 * token's revocation fails.
 */
export async function rotateTokens(
  inputs: ActionInputs,
  tokens: TokensPort,
  runner: Runner,
): Promise<Rotations> {
  // Loaded here: the token modules bring jose, which a step without tokens never needs.
  const tokensModule = await import('../tokens/tokens.js');
  // An assertion function is called only through a name with an explicit type (TS2775).
  const assertRotatable: typeof tokensModule.assertRotatable = tokensModule.assertRotatable;
  const listed = new Map((await tokens.list()).map((t) => [t.id, t]));
  for (const { name, id } of inputs.rotateTokens ?? [])
    assertRotatable(
      listed.get(id),
      id,
      inputs.namespace,
      'see the active tokens with `egg tokens list`; no token was rotated',
      `rotate-tokens ${name}: `,
    );
  const done: Rotation[] = [];
  const undo = () => voidSuccessors(tokens, done, runner);
  for (const { name, id, graceSeconds } of inputs.rotateTokens ?? []) {
    try {
      const rotated = await tokens.rotate(id, graceSeconds);
      for (const form of maskForms(rotated.successor.token, inputs.maskEncodings)) runner.setSecret(form);
      done.push({ name, rotated });
    } catch (error) {
      await undo();
      throw error;
    }
  }
  return { done, undo };
}

/** Revoke the successors minted so far, and say which old tokens still stop when their grace ends. */
async function voidSuccessors(tokens: TokensPort, done: readonly Rotation[], runner: Runner): Promise<void> {
  if (done.length === 0) return;
  const ids = done.map((r) => r.rotated.successor.id);
  const olds = done.map((r) => `${r.rotated.id} (at ${r.rotated.stopsAt})`).join(', ');
  try {
    await tokens.revoke(ids, {});
    runner.warning(
      `The step failed after rotating ${done.length} token(s): their successors (${ids.join(', ')}) were revoked, and the old tokens still stop when their grace ends: ${olds}. Mint or rotate anew.`,
    );
  } catch {
    runner.warning(
      `The step failed after rotating ${done.length} token(s) and could not revoke their successors: revoke them with \`egg tokens revoke ${ids.join(' ')}\`. The old tokens still stop when their grace ends: ${olds}.`,
    );
  }
}
