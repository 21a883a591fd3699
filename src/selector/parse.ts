import { ErrorCodes, GatewayError } from '../errors';
import type { Selector } from './ast';

/**
 * Calico's selector syntax (README.md in this folder has the grammar and where each fact comes from):
 *
 *   selector  := ws* (or-expr)? ws*           (empty = all())
 *   or-expr   := and-expr ("||" and-expr)*
 *   and-expr  := operation ("&&" operation)*
 *   operation := "!"* ( "all(" ws* ")" | "global(" ws* ")" | "has(" ws* key ws* ")"
 *                     | key op string | key ("in" | "not" ws* "in") "{" (string ("," string)* ","?)? "}"
 *                     | "(" or-expr ")" )
 *   op        := "==" | "!=" | "contains" | "starts" ws* "with" | "ends" ws* "with"
 *   key       := [a-zA-Z0-9_./-]+
 *   string    := '"' [^"]* '"' | "'" [^']* "'"    (no escapes)
 *   ws        := " " | "\t"
 */

/** A selector that does not parse: `position` is the offset (0-based) of the character where it went wrong. */
export class SelectorError extends GatewayError {
  constructor(
    readonly input: string,
    readonly position: number,
    readonly reason: string,
  ) {
    super(ErrorCodes.SELECTOR_INVALID, `selector ${JSON.stringify(input)}: ${reason} at column ${position + 1}${pointer(input, position)}`);
    this.name = 'SelectorError';
  }
}

/** The input with a caret under the bad character, for a log line that shows where. */
function pointer(input: string, position: number): string {
  if (input.includes('\n') || input.length > 200) return '';
  return `\n  ${input}\n  ${' '.repeat(position)}^`;
}

type TokenKind =
  | 'key'
  | 'string'
  | '{'
  | '}'
  | ','
  | '('
  | ')'
  | '=='
  | '!='
  | '!'
  | '&&'
  | '||'
  | 'in'
  | 'not in'
  | 'contains'
  | 'starts with'
  | 'ends with'
  | 'all()'
  | 'global()'
  | 'has()'
  | 'end';

interface Token {
  readonly kind: TokenKind;
  /** The label key (key, has()) or the string's contents (string). */
  readonly text: string;
  readonly at: number;
}

const WHITESPACE = new Set([' ', '\t']);

function isKeyChar(c: string | undefined): boolean {
  if (c === undefined) return false;
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '_' || c === '.' || c === '/' || c === '-';
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'end':
      return 'the end of the selector';
    case 'key':
      return `label ${JSON.stringify(t.text)}`;
    case 'string':
      return `string ${JSON.stringify(t.text)}`;
    case 'has()':
      return `has(${t.text})`;
    default:
      return `"${t.kind}"`;
  }
}

class Lexer {
  private pos = 0;
  private last: TokenKind | undefined;

  constructor(private readonly input: string) {}

  tokens(): Token[] {
    const out: Token[] = [];
    for (;;) {
      const t = this.next();
      out.push(t);
      this.last = t.kind;
      if (t.kind === 'end') return out;
    }
  }

  private fail(at: number, reason: string): never {
    throw new SelectorError(this.input, at, reason);
  }

  private skipWhitespace(): void {
    while (WHITESPACE.has(this.input[this.pos] ?? '')) this.pos++;
  }

  private startsWith(word: string): boolean {
    return this.input.startsWith(word, this.pos);
  }

  private readKey(): string {
    const start = this.pos;
    while (isKeyChar(this.input[this.pos])) this.pos++;
    return this.input.slice(start, this.pos);
  }

  private next(): Token {
    this.skipWhitespace();
    const at = this.pos;
    const c = this.input[at];
    if (c === undefined) return { kind: 'end', text: '', at };
    const one = (kind: TokenKind): Token => {
      this.pos++;
      return { kind, text: '', at };
    };
    const two = (second: string, kind: TokenKind, expected: string): Token => {
      if (this.input[at + 1] !== second) this.fail(at, `expected "${expected}"`);
      this.pos += 2;
      return { kind, text: '', at };
    };
    switch (c) {
      case '(':
        return one('(');
      case ')':
        return one(')');
      case '{':
        return one('{');
      case '}':
        return one('}');
      case ',':
        return one(',');
      case '"':
      case "'": {
        const close = this.input.indexOf(c, at + 1);
        if (close < 0) this.fail(at, `unterminated string (no closing ${c})`);
        this.pos = close + 1;
        return { kind: 'string', text: this.input.slice(at + 1, close), at };
      }
      case '=':
        return two('=', '==', '==');
      case '&':
        return two('&', '&&', '&&');
      case '|':
        return two('|', '||', '||');
      case '!':
        if (this.input[at + 1] === '=') {
          this.pos += 2;
          return { kind: '!=', text: '', at };
        }
        return one('!');
      default:
        break;
    }
    // Right after a label comes its operator; anywhere else a word is a function or a label.
    if (this.last === 'key') return this.operator(at);
    for (const fn of ['all', 'global'] as const) {
      if (this.startsWith(`${fn}(`)) {
        this.pos += fn.length + 1;
        this.skipWhitespace();
        if (this.input[this.pos] !== ')') this.fail(this.pos, `expected ")" after "${fn}("`);
        this.pos++;
        return { kind: fn === 'all' ? 'all()' : 'global()', text: '', at };
      }
    }
    if (this.startsWith('has(')) {
      this.pos += 4;
      this.skipWhitespace();
      const keyAt = this.pos;
      const key = this.readKey();
      if (key === '') this.fail(keyAt, 'expected a label name in has(...)');
      this.skipWhitespace();
      if (this.input[this.pos] !== ')') this.fail(this.pos, `expected ")" after "has(${key}"`);
      this.pos++;
      return { kind: 'has()', text: key, at };
    }
    const key = this.readKey();
    if (key !== '') return { kind: 'key', text: key, at };
    return this.fail(at, unexpectedCharacter(c));
  }

  /** The operator after a label; "not in", "starts with" and "ends with" may have any spaces (or none) inside. */
  private operator(at: number): Token {
    const pair = (first: string, second: string, kind: TokenKind): Token | undefined => {
      if (!this.startsWith(first)) return undefined;
      this.pos += first.length;
      this.skipWhitespace();
      if (!this.startsWith(second)) this.fail(this.pos, `expected "${second}" after "${first}"`);
      this.pos += second.length;
      return { kind, text: '', at };
    };
    const single = (word: string, kind: TokenKind): Token | undefined => {
      if (!this.startsWith(word)) return undefined;
      this.pos += word.length;
      return { kind, text: '', at };
    };
    const t =
      single('contains', 'contains') ??
      pair('starts', 'with', 'starts with') ??
      pair('ends', 'with', 'ends with') ??
      pair('not', 'in', 'not in') ??
      single('in', 'in');
    if (t) return t;
    const c = this.input[at] ?? '';
    if (!isKeyChar(c)) this.fail(at, unexpectedCharacter(c));
    return this.fail(at, 'expected an operator after the label (==, !=, in, not in, contains, starts with, ends with)');
  }
}

function unexpectedCharacter(c: string): string {
  if (c === '\n' || c === '\r') return 'unexpected line break (only spaces and tabs may separate tokens)';
  return `unexpected character ${JSON.stringify(c)}`;
}

class Parser {
  private i = 0;

  constructor(
    private readonly input: string,
    private readonly tokens: readonly Token[],
  ) {}

  private peek(): Token {
    // The lexer always ends the list with 'end', and the parser never moves past it.
    return this.tokens[this.i] ?? { kind: 'end', text: '', at: this.input.length };
  }

  private take(): Token {
    const t = this.peek();
    if (t.kind !== 'end') this.i++;
    return t;
  }

  private fail(t: Token, reason: string): never {
    throw new SelectorError(this.input, t.at, `${reason}, found ${describe(t)}`);
  }

  parseRoot(): Selector {
    if (this.peek().kind === 'end') return { op: 'all' };
    const sel = this.parseOr();
    const rest = this.peek();
    if (rest.kind !== 'end') this.fail(rest, rest.kind === ')' ? 'unbalanced ")"' : 'expected "&&", "||" or the end of the selector');
    return sel;
  }

  private parseOr(): Selector {
    const operands = [this.parseAnd()];
    while (this.peek().kind === '||') {
      this.take();
      operands.push(this.parseAnd());
    }
    return operands.length === 1 ? (operands[0] as Selector) : { op: 'or', operands };
  }

  private parseAnd(): Selector {
    const operands = [this.parseOperation()];
    while (this.peek().kind === '&&') {
      this.take();
      operands.push(this.parseOperation());
    }
    return operands.length === 1 ? (operands[0] as Selector) : { op: 'and', operands };
  }

  private parseOperation(): Selector {
    let negations = 0;
    while (this.peek().kind === '!') {
      this.take();
      negations++;
    }
    const sel = this.parseTerm();
    // "!!x" is x: Calico folds the marks into one flag.
    return negations % 2 === 1 ? { op: 'not', operand: sel } : sel;
  }

  private parseTerm(): Selector {
    const t = this.take();
    switch (t.kind) {
      case 'all()':
        return { op: 'all' };
      case 'global()':
        return { op: 'global' };
      case 'has()':
        return { op: 'has', key: t.text };
      case '(': {
        const inner = this.parseOr();
        const close = this.peek();
        if (close.kind !== ')') this.fail(close, `expected ")" to close the "(" at column ${t.at + 1}`);
        this.take();
        return inner;
      }
      case 'key':
        return this.parseComparison(t.text);
      default:
        return this.fail(t, 'expected a label, has(), all(), global(), "!" or "("');
    }
  }

  private parseComparison(key: string): Selector {
    const op = this.take();
    switch (op.kind) {
      case '==':
      case '!=':
      case 'contains':
      case 'starts with':
      case 'ends with': {
        const value = this.expectString(op.kind);
        const kind = op.kind === '==' ? 'eq' : op.kind === '!=' ? 'ne' : op.kind === 'contains' ? 'contains' : op.kind === 'starts with' ? 'startsWith' : 'endsWith';
        return { op: kind, key, value };
      }
      case 'in':
      case 'not in':
        return { op: op.kind === 'in' ? 'in' : 'notIn', key, values: this.parseSet(op.kind) };
      default:
        return this.fail(op, `expected an operator after label ${JSON.stringify(key)}`);
    }
  }

  private expectString(after: string): string {
    const t = this.take();
    if (t.kind !== 'string') this.fail(t, `expected a quoted string after "${after}"`);
    return t.text;
  }

  /** `{ 'a', "b", }`: a trailing comma and the empty set are allowed, as in Calico. */
  private parseSet(after: string): string[] {
    const open = this.take();
    if (open.kind !== '{') this.fail(open, `expected "{" after "${after}"`);
    const values = new Set<string>();
    for (;;) {
      const t = this.peek();
      if (t.kind === '}') break;
      if (t.kind !== 'string') this.fail(t, 'expected a quoted string or "}" in the set');
      values.add(this.take().text);
      const sep = this.peek();
      if (sep.kind === ',') {
        this.take();
        continue;
      }
      if (sep.kind !== '}') this.fail(sep, 'expected "," or "}" in the set');
    }
    this.take();
    return [...values].sort();
  }
}

/** Parses a selector; throws SelectorError (code SELECTOR_INVALID) saying what was expected and where. */
export function parseSelector(input: string): Selector {
  const tokens = new Lexer(input).tokens();
  return new Parser(input, tokens).parseRoot();
}

/** parseSelector without the throw, for callers that keep the error as a value. */
export function tryParseSelector(input: string): { readonly ok: true; readonly selector: Selector } | { readonly ok: false; readonly error: SelectorError } {
  try {
    return { ok: true, selector: parseSelector(input) };
  } catch (err) {
    if (err instanceof SelectorError) return { ok: false, error: err };
    throw err;
  }
}
