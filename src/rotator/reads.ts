/**
 * What the deferred rotator must re-encrypt: the targets of every successful read record
 * (DESIGN, Crypto, `deferred`). A reader under deferred rotation writes nothing but that
 * record, appended after its read, so rotating each target once the record is seen replaces
 * the data key the reader used. Records of any other kind, or whose fields are not what a
 * vault writes, name nothing to rotate.
 */
import { isNamespace, isSecretName } from '../names.js';
import type { AuditRecord } from '../stores/store.js';

/** The records the rotator acts on: `read`, outcome `ok` (a failed read returned no value). */
export function isRotatableRead(record: Pick<AuditRecord, 'action' | 'outcome'>): boolean {
  return record.action === 'read' && record.outcome === 'ok';
}

/** Secret names to rotate per namespace, from `records` (any namespaces, any order). */
export function readsToRotate(
  records: Iterable<Pick<AuditRecord, 'namespace' | 'action' | 'outcome' | 'targets'>>,
): Map<string, Set<string>> {
  const reads = new Map<string, Set<string>>();
  for (const record of records) {
    if (!isRotatableRead(record) || !isNamespace(record.namespace)) continue;
    const names = reads.get(record.namespace) ?? new Set<string>();
    for (const name of record.targets) if (isSecretName(name)) names.add(name);
    if (names.size > 0) reads.set(record.namespace, names);
  }
  return reads;
}
