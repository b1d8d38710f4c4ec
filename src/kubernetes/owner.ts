/** ownerReferences: what makes the garbage collector delete an object together with its owner. */
import type { V1OwnerReference } from '@kubernetes/client-node';

export interface PodOwnerReference {
  apiVersion: 'v1';
  kind: 'Pod';
  name: string;
  uid: string;
}

/** The pod as owner. Not a controller reference: the pod does not manage what it owns. */
export function podOwnerReference(pod: { metadata?: { name?: string; uid?: string } }): PodOwnerReference {
  const name = pod.metadata?.name;
  const uid = pod.metadata?.uid;
  if (!name || !uid) throw new Error('an owner needs a name and a uid: the pod was not created yet');
  return { apiVersion: 'v1', kind: 'Pod', name, uid };
}

/** Is `object` owned by the object with this uid? */
export function ownedBy(object: { metadata?: { ownerReferences?: V1OwnerReference[] } }, uid: string): boolean {
  return (object.metadata?.ownerReferences ?? []).some((ref) => ref.uid === uid);
}
