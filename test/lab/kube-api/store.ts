import { randomUUID } from 'node:crypto';
import { fieldsMatch, labelsMatch, type FieldRequirement, type LabelRequirement } from './selectors';

/**
 * The stand-in API server's data: objects per resource, one resourceVersion counter for all of them
 * (as etcd's revision is), and a bounded history of changes that watches replay from. A watch from a
 * resourceVersion older than the history holds gets 410 Gone, as from a real API server after
 * compaction; `compact()` forgets the history on demand.
 */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  [k: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [k: string]: unknown;
}

export interface ResourceType {
  /** Plural, as in the URL: pods, nodes, ipamblocks. */
  readonly plural: string;
  readonly group: string; // '' = core
  readonly version: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** Field selector paths the API server accepts for it. */
  readonly fields: readonly string[];
}

export const RESOURCES: readonly ResourceType[] = [
  { plural: 'pods', group: '', version: 'v1', kind: 'Pod', namespaced: true, fields: ['metadata.name', 'metadata.namespace', 'spec.nodeName', 'status.phase'] },
  { plural: 'namespaces', group: '', version: 'v1', kind: 'Namespace', namespaced: false, fields: ['metadata.name', 'status.phase'] },
  { plural: 'nodes', group: '', version: 'v1', kind: 'Node', namespaced: false, fields: ['metadata.name', 'spec.unschedulable'] },
  { plural: 'ipamblocks', group: 'crd.projectcalico.org', version: 'v1', kind: 'IPAMBlock', namespaced: false, fields: ['metadata.name'] },
  { plural: 'ippools', group: 'crd.projectcalico.org', version: 'v1', kind: 'IPPool', namespaced: false, fields: ['metadata.name'] },
  { plural: 'blockaffinities', group: 'crd.projectcalico.org', version: 'v1', kind: 'BlockAffinity', namespaced: false, fields: ['metadata.name'] },
];

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface Change {
  readonly rv: number;
  readonly plural: string;
  readonly type: EventType;
  readonly object: KubeObject;
  /** The object before a MODIFIED change: a filtered watch turns a change across its selector into ADDED or DELETED. */
  readonly before?: KubeObject;
}

export interface Filter {
  readonly namespace?: string;
  readonly labels: readonly LabelRequirement[];
  readonly fields: readonly FieldRequirement[];
}

export type WatchEvent = { readonly type: EventType; readonly object: KubeObject };

export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const clone = <T>(v: T): T => structuredClone(v);
const key = (ns: string | undefined, name: string): string => `${ns ?? ''}/${name}`;

export class KubeStore {
  private rv = 1;
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private history: Change[] = [];
  /** Changes after this resourceVersion are still in `history`. */
  private oldestRv = 1;
  private readonly listeners = new Set<(c: Change) => void>();

  constructor(private readonly historyLimit = 10_000) {
    for (const r of RESOURCES) this.objects.set(r.plural, new Map());
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  type(plural: string): ResourceType {
    const t = RESOURCES.find((r) => r.plural === plural);
    if (!t) throw new KubeApiError(404, 'NotFound', `the server could not find the requested resource (${plural})`);
    return t;
  }

  private bucket(plural: string): Map<string, KubeObject> {
    this.type(plural);
    return this.objects.get(plural) as Map<string, KubeObject>;
  }

  get(plural: string, namespace: string | undefined, name: string): KubeObject {
    const o = this.bucket(plural).get(key(namespace, name));
    if (!o) throw new KubeApiError(404, 'NotFound', `${plural} "${name}" not found`);
    return clone(o);
  }

  tryGet(plural: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.bucket(plural).get(key(namespace, name));
    return o ? clone(o) : undefined;
  }

  create(plural: string, input: KubeObject): KubeObject {
    const t = this.type(plural);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- parsed JSON: the type promises more than the wire does
    const name = input.metadata?.name;
    if (!name) throw new KubeApiError(422, 'Invalid', 'metadata.name: Required value');
    const ns = t.namespaced ? input.metadata.namespace ?? 'default' : undefined;
    const bucket = this.bucket(plural);
    if (bucket.has(key(ns, name))) throw new KubeApiError(409, 'AlreadyExists', `${plural} "${name}" already exists`);
    const obj: KubeObject = clone(input);
    obj.apiVersion = t.group === '' ? t.version : `${t.group}/${t.version}`;
    obj.kind = t.kind;
    obj.metadata = { ...obj.metadata, name, uid: obj.metadata.uid ?? randomUUID(), creationTimestamp: obj.metadata.creationTimestamp ?? new Date().toISOString() };
    if (ns !== undefined) obj.metadata.namespace = ns;
    else delete obj.metadata.namespace;
    return this.commit(plural, 'ADDED', obj);
  }

  /** Replaces the object whole (PUT). */
  replace(plural: string, input: KubeObject): KubeObject {
    const t = this.type(plural);
    const ns = t.namespaced ? input.metadata.namespace ?? 'default' : undefined;
    const before = this.bucket(plural).get(key(ns, input.metadata.name));
    if (!before) throw new KubeApiError(404, 'NotFound', `${plural} "${input.metadata.name}" not found`);
    const rvIn = input.metadata.resourceVersion;
    if (rvIn !== undefined && rvIn !== '' && rvIn !== before.metadata.resourceVersion) {
      throw new KubeApiError(409, 'Conflict', `the object has been modified; please apply your changes to the latest version and try again`);
    }
    const obj: KubeObject = clone(input);
    obj.apiVersion = before.apiVersion;
    obj.kind = before.kind;
    obj.metadata = { ...obj.metadata, uid: before.metadata.uid, creationTimestamp: before.metadata.creationTimestamp };
    if (ns !== undefined) obj.metadata.namespace = ns;
    return this.commit(plural, 'MODIFIED', obj, before);
  }

  /** JSON merge patch (RFC 7386): objects merge, null deletes, everything else replaces. */
  patch(plural: string, namespace: string | undefined, name: string, patch: unknown): KubeObject {
    const t = this.type(plural);
    const ns = t.namespaced ? namespace ?? 'default' : undefined;
    const before = this.bucket(plural).get(key(ns, name));
    if (!before) throw new KubeApiError(404, 'NotFound', `${plural} "${name}" not found`);
    const merged = mergePatch(clone(before), patch) as KubeObject;
    merged.metadata = { ...merged.metadata, name, uid: before.metadata.uid };
    if (ns !== undefined) merged.metadata.namespace = ns;
    return this.commit(plural, 'MODIFIED', merged, before);
  }

  /** Sets deletionTimestamp (a graceful delete in progress): watchers see MODIFIED, the object stays. */
  markDeleting(plural: string, namespace: string | undefined, name: string): KubeObject {
    return this.patch(plural, namespace, name, { metadata: { deletionTimestamp: new Date().toISOString() } });
  }

  delete(plural: string, namespace: string | undefined, name: string): KubeObject {
    const t = this.type(plural);
    const ns = t.namespaced ? namespace ?? 'default' : undefined;
    const bucket = this.bucket(plural);
    const before = bucket.get(key(ns, name));
    if (!before) throw new KubeApiError(404, 'NotFound', `${plural} "${name}" not found`);
    const obj = clone(before);
    return this.commit(plural, 'DELETED', obj);
  }

  private commit(plural: string, type: EventType, obj: KubeObject, before?: KubeObject): KubeObject {
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    const bucket = this.bucket(plural);
    const k = key(obj.metadata.namespace, obj.metadata.name);
    if (type === 'DELETED') bucket.delete(k);
    else bucket.set(k, obj);
    const change: Change = { rv: this.rv, plural, type, object: clone(obj), ...(before ? { before: clone(before) } : {}) };
    this.history.push(change);
    if (this.history.length > this.historyLimit) {
      const dropped = this.history.splice(0, this.history.length - this.historyLimit);
      this.oldestRv = (dropped[dropped.length - 1] as Change).rv;
    }
    for (const l of this.listeners) l(change);
    return clone(obj);
  }

  /** Forgets the history: every watch from an earlier resourceVersion now gets 410 Gone. */
  compact(): void {
    this.history = [];
    this.oldestRv = this.rv;
  }

  list(plural: string, filter: Filter): { items: KubeObject[]; resourceVersion: string } {
    const items = [...this.bucket(plural).values()].filter((o) => matchesFilter(o, filter)).map(clone);
    items.sort((a, b) => key(a.metadata.namespace, a.metadata.name).localeCompare(key(b.metadata.namespace, b.metadata.name)));
    return { items, resourceVersion: this.resourceVersion };
  }

  /**
   * Starts a watch of `plural` after resourceVersion `from` ('' or '0': synthetic ADDED events for
   * the objects there now, then changes). Returns undefined when `from` is older than the history (410).
   */
  watch(plural: string, from: string, filter: Filter, emit: (e: WatchEvent) => void): { stop(): void } | undefined {
    this.type(plural);
    const send = (c: Change): void => {
      const e = filteredEvent(c, filter);
      if (e) emit(e);
    };
    if (from === '' || from === '0') {
      for (const o of this.list(plural, filter).items) emit({ type: 'ADDED', object: o });
    } else {
      const n = Number(from);
      if (!Number.isInteger(n) || n < 0) throw new KubeApiError(400, 'BadRequest', `invalid resourceVersion ${JSON.stringify(from)}`);
      if (n < this.oldestRv) return undefined;
      for (const c of this.history) if (c.rv > n && c.plural === plural) send(c);
    }
    const listener = (c: Change): void => {
      if (c.plural === plural) send(c);
    };
    this.listeners.add(listener);
    return { stop: () => this.listeners.delete(listener) };
  }
}

function matchesFilter(o: KubeObject, f: Filter): boolean {
  if (f.namespace !== undefined && o.metadata.namespace !== f.namespace) return false;
  return labelsMatch(f.labels, o.metadata.labels) && fieldsMatch(f.fields, o);
}

/** What a filtered watch sees of a change: objects that enter its filter are ADDED to it, those that leave are DELETED. */
function filteredEvent(c: Change, f: Filter): WatchEvent | undefined {
  const now = matchesFilter(c.object, f);
  if (c.type !== 'MODIFIED') return now ? { type: c.type, object: c.object } : undefined;
  const was = c.before ? matchesFilter(c.before, f) : now;
  if (now && was) return { type: 'MODIFIED', object: c.object };
  if (now) return { type: 'ADDED', object: c.object };
  if (was) return { type: 'DELETED', object: c.object };
  return undefined;
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- JSON merge patch: null deletes the key it names
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
