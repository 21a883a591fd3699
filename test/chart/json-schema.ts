/**
 * A small JSON Schema (draft-07) checker for values.schema.json: the keywords our schema uses and no
 * more. A keyword it does not know is an error, so the schema cannot silently outgrow the checker.
 */

export type Schema = { readonly [keyword: string]: unknown };

const KNOWN = new Set([
  '$schema', 'title', 'description', 'definitions', '$ref', 'type', 'enum', 'required', 'properties',
  'additionalProperties', 'minProperties', 'items', 'minimum', 'maximum', 'minLength', 'pattern',
]);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(actual: string, wanted: string): boolean {
  return actual === wanted || (wanted === 'number' && actual === 'integer');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every violation, as "path: what is wrong"; empty when the value satisfies the schema. */
export function validateJsonSchema(root: Schema, value: unknown): string[] {
  const errors: string[] = [];

  const resolve = (ref: string): Schema => {
    const m = /^#\/definitions\/([^/]+)$/.exec(ref);
    const defs = root['definitions'];
    const found = m && isObject(defs) ? defs[m[1] as string] : undefined;
    if (!isObject(found)) throw new Error(`schema: cannot resolve $ref ${ref}`);
    return found;
  };

  const check = (schema: Schema, v: unknown, path: string): void => {
    for (const k of Object.keys(schema)) if (!KNOWN.has(k)) throw new Error(`schema: keyword "${k}" at ${path} is not supported by this checker`);
    if (typeof schema['$ref'] === 'string') check(resolve(schema['$ref']), v, path);

    const type = schema['type'];
    if (type !== undefined) {
      const wanted = Array.isArray(type) ? (type as string[]) : [type as string];
      if (!wanted.some((w) => typeMatches(typeOf(v), w))) {
        errors.push(`${path}: is ${typeOf(v)}, must be ${wanted.join(' or ')}`);
        return;
      }
    }
    const enumValues = schema['enum'];
    if (Array.isArray(enumValues) && !enumValues.some((e) => e === v)) {
      errors.push(`${path}: ${JSON.stringify(v)} is not one of ${JSON.stringify(enumValues)}`);
    }
    if (typeof v === 'number') {
      if (typeof schema['minimum'] === 'number' && v < schema['minimum']) errors.push(`${path}: ${v} is below ${schema['minimum']}`);
      if (typeof schema['maximum'] === 'number' && v > schema['maximum']) errors.push(`${path}: ${v} is above ${schema['maximum']}`);
    }
    if (typeof v === 'string') {
      if (typeof schema['minLength'] === 'number' && v.length < schema['minLength']) errors.push(`${path}: shorter than ${schema['minLength']}`);
      if (typeof schema['pattern'] === 'string' && !new RegExp(schema['pattern'], 'u').test(v)) {
        errors.push(`${path}: ${JSON.stringify(v)} does not match ${schema['pattern']}`);
      }
    }
    if (Array.isArray(v) && isObject(schema['items'])) {
      const items = schema['items'];
      v.forEach((item, i) => check(items, item, `${path}[${i}]`));
    }
    if (isObject(v)) {
      const props = isObject(schema['properties']) ? schema['properties'] : {};
      const required = Array.isArray(schema['required']) ? (schema['required'] as string[]) : [];
      for (const r of required) if (!(r in v)) errors.push(`${path}: ${r} is required`);
      if (typeof schema['minProperties'] === 'number' && Object.keys(v).length < schema['minProperties']) {
        errors.push(`${path}: needs at least ${schema['minProperties']} entries`);
      }
      const extra = schema['additionalProperties'];
      for (const [k, child] of Object.entries(v)) {
        const sub = props[k];
        if (isObject(sub)) check(sub, child, `${path}.${k}`);
        else if (extra === false) errors.push(`${path}: unknown key ${k}`);
        else if (isObject(extra)) check(extra, child, `${path}.${k}`);
      }
    }
  };

  check(root, value, '$');
  return errors;
}
