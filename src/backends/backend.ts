/**
 * The composition root's types (STYLE, Composition): an `Identity` (who acts, and the AWS
 * credentials it acts with) and the `Backend` that `openBackend` (open-backend.ts) turns a
 * configuration and one identity into: every port that identity uses, and one `close()`.
 * Types only, importing only the ports' types, so every layer above the ports may import
 * this without loading an adapter, and no arrow runs back up.
 */
import type { AwsAlertPublisher } from '../alerts/aws-channels.js';
import type { AwsCall, AwsCredentials, AwsCredentialsProvider } from '../aws/clients.js';
import type { BackendKind } from '../config.js';
import type { Keyring } from '../keyrings/keyring.js';
import type { SealingKey } from '../keyrings/sealing.js';
import type { Logger } from '../log.js';
import type { SecretStore } from '../stores/store.js';
import type { TokenSigner } from '../tokens/signer.js';
import type { TokenStore } from '../tokens/token-store.js';

/** Who acts (the audit trail's and the token records' actor) and, on aws, with what. */
export interface Identity {
  readonly actor: string;
  /**
   * The credentials every AWS client of the backend signs with: an STS session (the Action),
   * an `egg login` session (a provider the SDK calls again before expiry), or undefined for
   * the SDK's default chain (the Lambda's role, a profile, the environment).
   */
  readonly credentials?: AwsCredentials | AwsCredentialsProvider | undefined;
}

export interface BackendOptions {
  logger?: Logger | undefined;
  /** Local: create the vault when neither of its files exists yet (`init`, `secrets set`); read commands do not. */
  create?: boolean;
  /** Local: how long a vault call may block on another process's lock (sqlite.ts). */
  busyTimeoutMs?: number;
  /** Local: how long a token-store call waits, on a timer, for another process's lock (sqlite-token-store.ts). */
  lockWaitMs?: number;
  /** Aws: called for every request of every client (the benchmark and the tests count calls with it). */
  onCall?: ((call: AwsCall) => void) | undefined;
  /**
   * Aws: no KMS key is configured, and the keyring refuses every call (a TypeError): the
   * Action's post step only revokes tokens, and is never told the KMS key.
   */
  keyless?: boolean;
}

/**
 * Every adapter for one identity. The store and keyring are open; the token store and the
 * signers open on first use (the first call decides `create`) and are shared after. On aws
 * every adapter shares one DynamoDB and one KMS client, signed with `identity.credentials`.
 * `close()` wipes keys and closes whatever was opened; adapters handed out are not closed
 * one by one.
 */
export interface Backend {
  readonly kind: BackendKind;
  readonly store: SecretStore;
  readonly keyring: Keyring;
  /**
   * The key that seals provider keys (docs/sealed-keys.md): locally `EGG_HOME/sealing-key`
   * (made on the first ask for its public key), on aws `EGG_SEALING_KEY_ID`, opened on first use.
   */
  readonly sealing: SealingKey;
  /** The identity's actor. */
  readonly actor: string;
  tokenStore(): Promise<TokenStore>;
  /** The token signer: locally `EGG_HOME/signing-key` (made when `create`), on aws `EGG_SIGNING_KEY_ID`. */
  signer(options?: { create?: boolean }): Promise<TokenSigner>;
  /** The audit anchor's signer: `EGG_HOME/anchor-key` (made when `create`), or `EGG_ANCHOR_KEY_ID`; undefined on aws without one. */
  anchorSigner(options?: { create?: boolean }): Promise<TokenSigner | undefined>;
  /**
   * On aws, what publishes alerts to SNS topics and EventBridge buses with the identity's
   * credentials (alerts/aws-channels.ts); its SDK clients load on the first alert. Absent locally.
   */
  alertPublisher?(): Promise<AwsAlertPublisher>;
  close(): Promise<void>;
}
