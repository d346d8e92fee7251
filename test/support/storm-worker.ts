/**
 * One process of the SQLite storm: opens its own connection to the shared vault file, says
 * "ready", waits for "go" on stdin (so all processes start together), runs its share of the
 * load and prints the outcome as one JSON line. Run with `node --import ./ts-hooks.mjs`.
 * Arguments: <vault file> <group> <writers> <readers> <sets per writer> <reads per reader>;
 * the KEK comes hex-encoded in EGG_STORM_KEK.
 */
import { once } from 'node:events';
import { LocalKeyring } from '../../src/keyrings/local.js';
import { SqliteStore } from '../../src/stores/sqlite.js';
import { Vault } from '../../src/vault/vault.js';
import { NAMESPACE, type Recorded, RecordingKeyring, RecordingStore, runLoad } from './storm.js';

const [path, group, writers, readers, setsPerWriter, readsPerReader] = process.argv.slice(2);
const record: Recorded = { deks: [], written: [] };
const store = new RecordingStore(new SqliteStore(path as string), record);
const keyring = new RecordingKeyring(
  new LocalKeyring(Buffer.from(process.env.EGG_STORM_KEK ?? '', 'hex')),
  record,
);
const vault = new Vault({ store, keyring, namespace: NAMESPACE, actor: `user:${group}` });

process.stdout.write('ready\n');
await once(process.stdin, 'data');
const outcome = await runLoad(
  [vault],
  {
    group: group as string,
    writers: Number(writers),
    readers: Number(readers),
    setsPerWriter: Number(setsPerWriter),
    readsPerReader: Number(readsPerReader),
  },
  record,
);
keyring.close();
await store.close();
process.stdout.write(`${JSON.stringify(outcome)}\n`);
process.stdin.destroy();
