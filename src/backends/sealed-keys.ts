/**
 * Sealed provider keys for the edges that take them (issue 14, item 2; docs/sealed-keys.md):
 * the console page and `egg secrets seal` ask here for a namespace's sealing public key, and
 * hand a key sealed on the owner's side to `putSealedProviderKey`, which checks everything
 * that can be checked without unsealing and stores it as it is. The plaintext is never in
 * this process at creation time; the first read unseals it.
 */
import { parseSealed, seal, type SealingPublicKey } from '../crypto/seal.js';
import { assertNamespace, assertSecretName, assertValue } from '../names.js';
import { canonicalInject, parseUpstream } from '../tokens/upstream.js';
import { assertProviderKey } from '../vault/provider-key.js';
import { type SecretMeta, Vault } from '../vault/vault.js';
import type { Backend } from './backend.js';
import type { SealingPort } from './vault-port.js';

export {
  parseSealed,
  SEAL_ALG,
  seal,
  sealAad,
  type SealedKey,
  type SealingPublicKey,
} from '../crypto/seal.js';

/**
 * The public key that seals provider keys for `namespace` (SPKI DER base64url, and its kid).
 * Locally the key pair is made on the first ask; on aws it is `EGG_SEALING_KEY_ID`'s
 * (GetPublicKey). One key serves every namespace of a backend; the AAD binds each blob to
 * its namespace and name.
 */
export async function sealingPublicKey(backend: Backend, namespace: string): Promise<SealingPublicKey> {
  assertNamespace(namespace);
  return backend.sealing.publicKey();
}

/** A provider key as the console or a script hands it over: sealed, with where it may go. */
export interface SealedProviderKeyInput {
  namespace: string;
  name: string;
  /** The sealed blob, as parsed JSON (checked here: `parseSealed`). */
  sealed: unknown;
  /** The only origin the proxy may send it to (https://host[:port]). */
  upstream: string;
  /** The header template, `{}` where the key goes. Default: `Authorization: Bearer {}`. */
  inject?: string | undefined;
}

/**
 * Store a sealed provider key without unsealing it, audited as `set-sealed`. Refused, with
 * nothing stored, when the blob is not the format, was sealed to another sealing key, or the
 * upstream or template is not one the proxy can use. A blob sealed for another name, or
 * changed by one bit, is refused at its first use (nothing is injected).
 * @example
 * await putSealedProviderKey(backend, { namespace: 'acme/web', name: 'OPENAI_KEY', sealed, upstream: 'https://api.openai.com' });
 */
export async function putSealedProviderKey(
  backend: Backend,
  input: SealedProviderKeyInput,
): Promise<SecretMeta> {
  const sealed = parseSealed(input.sealed);
  const upstream = parseUpstream(input.upstream);
  const inject = input.inject === undefined ? undefined : canonicalInject(input.inject);
  const vault = new Vault({
    store: backend.store,
    keyring: backend.keyring,
    sealing: backend.sealing,
    namespace: input.namespace,
    actor: backend.actor,
  });
  return vault.putSealed(input.name, sealed, { upstream, inject });
}

/**
 * Seal `value` on this side with the namespace's sealing public key, then store only the
 * sealed blob (`egg secrets seal`), through `sealing`: a backend's (sealingPort), or the
 * API's, so the store, every AWS call and the API's server see ciphertext only. The value
 * is checked as a provider key first (sendable in a header as it is); the caller wipes it.
 */
export async function sealProviderKey(
  sealing: SealingPort,
  input: Omit<SealedProviderKeyInput, 'sealed'> & { value: Uint8Array },
): Promise<SecretMeta> {
  const { value, namespace, ...where } = input;
  assertNamespace(namespace);
  assertSecretName(where.name);
  assertValue(value);
  assertProviderKey(where.name, value);
  const sealed = await seal({
    publicKey: await sealing.publicKey({ create: true }),
    namespace,
    name: where.name,
    value,
  });
  return sealing.put({ ...where, sealed });
}
