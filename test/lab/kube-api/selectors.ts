/**
 * Kubernetes' own label and field selector syntax (the `labelSelector` / `fieldSelector` query
 * parameters), as the API server reads it: comma-separated requirements, all of which must hold.
 *   labels: key | !key | key=value | key==value | key!=value | key in (a,b) | key notin (a,b)
 *   fields: path=value | path==value | path!=value, for the paths each resource supports.
 * Not Calico's syntax (that is src/selector/): this one is what the stand-in API server filters with.
 */
export type LabelRequirement =
  | { readonly kind: 'exists' | 'notExists'; readonly key: string }
  | { readonly kind: 'eq' | 'ne'; readonly key: string; readonly value: string }
  | { readonly kind: 'in' | 'notIn'; readonly key: string; readonly values: readonly string[] };

export type FieldRequirement = { readonly path: string; readonly op: 'eq' | 'ne'; readonly value: string };

export class SelectorSyntaxError extends Error {}

/** Splits on commas that are not inside parentheses. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

const KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/;

export function parseLabelSelector(text: string | undefined): LabelRequirement[] {
  if (text === undefined || text.trim() === '') return [];
  return splitTop(text).map((part) => {
    let m = /^!\s*(\S+)$/.exec(part);
    if (m) return { kind: 'notExists', key: checkKey(m[1] as string, part) };
    m = /^(\S+?)\s*(==|!=|=)\s*(\S*)$/.exec(part);
    if (m) {
      const key = checkKey(m[1] as string, part);
      return { kind: m[2] === '!=' ? 'ne' : 'eq', key, value: m[3] as string };
    }
    m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part);
    if (m) {
      const values = (m[3] as string).split(',').map((v) => v.trim());
      return { kind: m[2] === 'in' ? 'in' : 'notIn', key: checkKey(m[1] as string, part), values };
    }
    return { kind: 'exists', key: checkKey(part, part) };
  });
}

function checkKey(key: string, part: string): string {
  if (!KEY.test(key)) throw new SelectorSyntaxError(`unable to parse requirement: ${JSON.stringify(part)}`);
  return key;
}

export function labelsMatch(reqs: readonly LabelRequirement[], labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.hasOwn(l, r.key);
    const v = has ? l[r.key] : undefined;
    switch (r.kind) {
      case 'exists':
        return has;
      case 'notExists':
        return !has;
      case 'eq':
        return v === r.value;
      case 'ne':
        return v !== r.value;
      case 'in':
        return v !== undefined && r.values.includes(v);
      case 'notIn':
        return v === undefined || !r.values.includes(v);
    }
  });
}

export function parseFieldSelector(text: string | undefined, supported: readonly string[]): FieldRequirement[] {
  if (text === undefined || text.trim() === '') return [];
  return splitTop(text).map((part) => {
    const m = /^([A-Za-z.]+)\s*(==|!=|=)\s*(.*)$/.exec(part);
    if (!m) throw new SelectorSyntaxError(`invalid field selector: ${JSON.stringify(part)}`);
    const path = m[1] as string;
    if (!supported.includes(path)) throw new SelectorSyntaxError(`field label not supported: ${path}`);
    return { path, op: m[2] === '!=' ? 'ne' : 'eq', value: (m[3] as string).trim() };
  });
}

export function fieldsMatch(reqs: readonly FieldRequirement[], object: unknown): boolean {
  return reqs.every((r) => {
    let v: unknown = object;
    for (const step of r.path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[step] : undefined;
    const text = typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);
    return r.op === 'eq' ? text === r.value : text !== r.value;
  });
}
