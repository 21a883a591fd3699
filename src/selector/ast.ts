/**
 * A parsed Calico selector: a tree of plain values, compared and printed by value.
 * The grammar is Calico's (README.md in this folder); the code is the project's own.
 */
export type Selector =
  | { readonly op: 'all' }
  | { readonly op: 'global' }
  | { readonly op: 'has'; readonly key: string }
  | { readonly op: 'eq' | 'ne' | 'contains' | 'startsWith' | 'endsWith'; readonly key: string; readonly value: string }
  | { readonly op: 'in' | 'notIn'; readonly key: string; readonly values: readonly string[] }
  | { readonly op: 'not'; readonly operand: Selector }
  | { readonly op: 'and' | 'or'; readonly operands: readonly Selector[] };

/** Labels as Kubernetes holds them. */
export type Labels = Readonly<Record<string, string>>;

/**
 * What a selector is evaluated against. `namespaced` says whether the subject lives in a namespace
 * (pods do); `global()` matches only subjects that do not (see README.md).
 */
export interface Subject {
  readonly labels: Labels;
  readonly namespaced: boolean;
}

export function matches(sel: Selector, subject: Subject): boolean {
  const labels = subject.labels;
  switch (sel.op) {
    case 'all':
      return true;
    case 'global':
      return !subject.namespaced;
    case 'has':
      return Object.hasOwn(labels, sel.key);
    case 'eq':
      return valueOf(labels, sel.key) === sel.value;
    case 'ne':
      return valueOf(labels, sel.key) !== sel.value;
    case 'contains': {
      const v = valueOf(labels, sel.key);
      return v !== undefined && v.includes(sel.value);
    }
    case 'startsWith': {
      const v = valueOf(labels, sel.key);
      return v !== undefined && v.startsWith(sel.value);
    }
    case 'endsWith': {
      const v = valueOf(labels, sel.key);
      return v !== undefined && v.endsWith(sel.value);
    }
    case 'in': {
      const v = valueOf(labels, sel.key);
      return v !== undefined && sel.values.includes(v);
    }
    case 'notIn': {
      const v = valueOf(labels, sel.key);
      return v === undefined || !sel.values.includes(v);
    }
    case 'not':
      return !matches(sel.operand, subject);
    case 'and':
      return sel.operands.every((o) => matches(o, subject));
    case 'or':
      return sel.operands.some((o) => matches(o, subject));
  }
}

/** Own properties only: a label named "constructor" or "__proto__" is a label like any other. */
function valueOf(labels: Labels, key: string): string | undefined {
  return Object.hasOwn(labels, key) ? labels[key] : undefined;
}

/**
 * The canonical text: fully parenthesised where it matters, double quotes unless the value holds one,
 * set members sorted and unique. Two selectors that print the same select the same things.
 */
export function printSelector(sel: Selector): string {
  switch (sel.op) {
    case 'all':
      return 'all()';
    case 'global':
      return 'global()';
    case 'has':
      return `has(${sel.key})`;
    case 'eq':
      return `${sel.key} == ${quote(sel.value)}`;
    case 'ne':
      return `${sel.key} != ${quote(sel.value)}`;
    case 'contains':
      return `${sel.key} contains ${quote(sel.value)}`;
    case 'startsWith':
      return `${sel.key} starts with ${quote(sel.value)}`;
    case 'endsWith':
      return `${sel.key} ends with ${quote(sel.value)}`;
    case 'in':
    case 'notIn':
      return `${sel.key} ${sel.op === 'in' ? 'in' : 'not in'} {${sel.values.map(quote).join(', ')}}`;
    case 'not':
      return sel.operand.op === 'and' || sel.operand.op === 'or' ? `!(${printSelector(sel.operand)})` : `!${printSelector(sel.operand)}`;
    case 'and':
      return sel.operands.map((o) => (o.op === 'or' ? `(${printSelector(o)})` : printSelector(o))).join(' && ');
    case 'or':
      return sel.operands.map(printSelector).join(' || ');
  }
}

/** Calico strings have no escapes: a value holding `"` is written in single quotes (one holding both cannot be written). */
function quote(value: string): string {
  return value.includes('"') ? `'${value}'` : `"${value}"`;
}
