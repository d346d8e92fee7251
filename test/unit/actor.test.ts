/** The audit trail's actor for a person or runner, built in one place (src/actor.ts). */
import { userInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { osActor } from '../../src/actor.js';

describe('osActor', () => {
  const user = `user:${userInfo().username}`;

  it.each([
    [{}, user],
    [{ GITHUB_RUN_ID: '42', GITHUB_REPOSITORY: 'acme/app' }, `${user} (acme/app run 42)`],
    [{ GITHUB_RUN_ID: '42' }, `${user} (github run 42)`],
    [{ GITHUB_REPOSITORY: 'acme/app' }, user],
  ])('with %o is %s', (env, expected) => {
    expect(osActor(env)).toBe(expected);
  });

  it('names no run unless given the environment (the CLI inside a job acts as the OS user)', () => {
    expect(osActor()).toBe(user);
  });
});
