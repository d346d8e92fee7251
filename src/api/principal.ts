/**
 * Who calls the API, and what each role may do (issue 16). A caller is the `iss` and `sub` of
 * a verified JWT; its principal, `<iss>|<sub>`, is what memberships and the audit trail name,
 * so two issuers' equal `sub`s never meet (an issuer never holds `|`: jwt.ts refuses one). A
 * GitHub Actions job has up to two names, its `sub` in each of GitHub's forms (src/subjects.ts):
 * a membership in either form admits it, as a trust policy in either form does.
 */
import type { MemberRecord, MemberRole } from '../stores/store.js';
import { formatSubject, tokenSubject } from '../subjects.js';

/** GitHub Actions' OIDC issuer ("About security hardening with OpenID Connect", GitHub Docs). */
export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';

/** A verified caller. */
export interface Caller {
  iss: string;
  sub: string;
  /** `<iss>|<sub>`: the actor of every audit record this caller's calls write. */
  principal: string;
  /** Every principal a membership may name to admit this caller, `principal` first. */
  aliases: readonly string[];
}

/** The most bytes a principal may take (a DynamoDB sort key holds 1024, with its prefix). */
export const MAX_PRINCIPAL_BYTES = 900;

/** A `sub` a principal can hold: not empty, no control characters, and short enough. */
export function isUsableSubject(iss: string, sub: string): boolean {
  for (let i = 0; i < sub.length; i++) {
    const code = sub.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return false;
  }
  return sub !== '' && Buffer.byteLength(principalOf(iss, sub)) <= MAX_PRINCIPAL_BYTES;
}

/** `<iss>|<sub>`. */
export function principalOf(iss: string, sub: string): string {
  return `${iss}|${sub}`;
}

/**
 * The caller with `claims` (verified: `iss` and `sub` are strings). For GitHub's issuer the
 * aliases are the `sub` in both forms: the name-only form from the token's names, the
 * immutable one when the token carries the owner's and repository's ids.
 */
export function callerOf(claims: { iss: string; sub: string } & Record<string, unknown>): Caller {
  const principal = principalOf(claims.iss, claims.sub);
  const aliases = new Set([principal]);
  const subject = claims.iss === GITHUB_ISSUER ? tokenSubject(claims) : undefined;
  if (subject !== undefined) {
    aliases.add(principalOf(claims.iss, formatSubject(subject, subject.qualifier, 'name-only')));
    if (subject.ownerId !== undefined)
      aliases.add(principalOf(claims.iss, formatSubject(subject, subject.qualifier, 'immutable')));
  }
  return { iss: claims.iss, sub: claims.sub, principal, aliases: [...aliases] };
}

const RANK: Record<MemberRole, number> = { read: 1, write: 2, admin: 3, owner: 4 };

/** Whether `role` may do what `needed` may. */
export function roleAllows(role: MemberRole, needed: MemberRole): boolean {
  return RANK[role] >= RANK[needed];
}

/** The caller's strongest membership among `members` (any alias counts), or undefined. */
export function membershipOf(caller: Caller, members: readonly MemberRecord[]): MemberRecord | undefined {
  let best: MemberRecord | undefined;
  for (const member of members) {
    if (!caller.aliases.includes(member.principal)) continue;
    if (best === undefined || RANK[member.role] > RANK[best.role]) best = member;
  }
  return best;
}
