/**
 * Validates rendered Kubernetes objects against the API schemas of the npm package
 * kubernetes-models (core and apps APIs) and @kubernetes-models/prometheus-operator (the
 * monitoring.coreos.com CRDs). An object of a kind neither knows is an error, not a pass.
 */
import path from 'node:path';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

interface ModelClass {
  new (data: unknown): { validate(): void };
}

function modulePath(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  return group === '' ? `kubernetes-models/${version}/${kind}` : `kubernetes-models/${group}/${version}/${kind}`;
}

/** Throws an error naming the object and every schema violation found. */
export function validateObject(obj: K8sObject): void {
  const where = `${obj.kind ?? '?'} ${obj.metadata?.name ?? '?'} (${obj.apiVersion ?? '?'})`;
  if (typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') throw new Error(`${where}: apiVersion and kind are required`);
  let Model: ModelClass;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    Model = (require(modulePath(obj.apiVersion, obj.kind)) as Record<string, ModelClass>)[obj.kind];
  } catch {
    throw new Error(`${where}: no schema for this kind in kubernetes-models (${path.posix.join(modulePath(obj.apiVersion, obj.kind))})`);
  }
  if (typeof Model !== 'function') throw new Error(`${where}: kubernetes-models exports no ${obj.kind}`);
  try {
    new Model(obj).validate();
  } catch (err) {
    throw new Error(`${where} is not a valid object: ${(err as Error).message}`);
  }
}
