import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matches, printSelector, type Labels } from '../../src/selector/ast';
import { parseSelector, SelectorError, tryParseSelector } from '../../src/selector/parse';
import { ErrorCodes, isGatewayError } from '../../src/errors';

/** Label sets the evaluation table refers to by name. */
const L: Record<string, Labels> = {
  none: {},
  red: { color: 'red' },
  blue: { color: 'blue' },
  redBig: { color: 'red', size: 'big' },
  blueSmall: { color: 'blue', size: 'small' },
  prod: { env: 'production', tier: 'frontend' },
  prodBack: { env: 'prod-eu', tier: 'backend' },
  staging: { env: 'staging', tier: 'frontend' },
  empty: { color: '' },
  dotted: { 'egress-gateway.io/gateway': 'true', 'app.kubernetes.io/name': 'egress' },
  quoted: { q: 'say "hi"', s: "it's" },
  proto: JSON.parse('{"constructor":"x","__proto__":"y"}') as Labels,
  spaces: { color: 'dark red' },
};

/** [selector, label set names it matches (others: it does not)] */
const table: readonly [string, readonly string[]][] = [
  // all(), empty, global()
  ['all()', Object.keys(L)],
  ['', Object.keys(L)],
  ['   ', Object.keys(L)],
  ['\t', Object.keys(L)],
  ['all( )', Object.keys(L)],
  ['all(\t)', Object.keys(L)],
  [' all() ', Object.keys(L)],
  ['!all()', []],
  ['!!all()', Object.keys(L)],
  ['!!!all()', []],
  ['global()', []],
  ['!global()', Object.keys(L)],
  ['global( )', []],
  // ==
  ["color == 'red'", ['red', 'redBig']],
  ['color == "red"', ['red', 'redBig']],
  ["color=='red'", ['red', 'redBig']],
  ["color\t==\t'red'", ['red', 'redBig']],
  ["color == ''", ['empty']],
  ["color == 'Red'", []],
  ["color == 'dark red'", ['spaces']],
  ["color == ' red'", []],
  ["size == 'big'", ['redBig']],
  ["missing == 'x'", []],
  ["egress-gateway.io/gateway == 'true'", ['dotted']],
  ["app.kubernetes.io/name == 'egress'", ['dotted']],
  ['q == \'say "hi"\'', ['quoted']],
  ['s == "it\'s"', ['quoted']],
  ["constructor == 'x'", ['proto']],
  ["__proto__ == 'y'", ['proto']],
  ["toString == 'x'", []],
  // !=
  ["color != 'red'", Object.keys(L).filter((n) => !['red', 'redBig'].includes(n))],
  ["color != ''", Object.keys(L).filter((n) => n !== 'empty')],
  ["color!='blue'", Object.keys(L).filter((n) => !['blue', 'blueSmall'].includes(n))],
  ["!color == 'red'", Object.keys(L).filter((n) => !['red', 'redBig'].includes(n))],
  ["!(color == 'red')", Object.keys(L).filter((n) => !['red', 'redBig'].includes(n))],
  // has
  ['has(color)', ['red', 'blue', 'redBig', 'blueSmall', 'empty', 'spaces']],
  ['has( color )', ['red', 'blue', 'redBig', 'blueSmall', 'empty', 'spaces']],
  ['has(\tcolor\t)', ['red', 'blue', 'redBig', 'blueSmall', 'empty', 'spaces']],
  ['!has(color)', ['none', 'prod', 'prodBack', 'staging', 'dotted', 'quoted', 'proto']],
  ['! has(color)', ['none', 'prod', 'prodBack', 'staging', 'dotted', 'quoted', 'proto']],
  ['has(size)', ['redBig', 'blueSmall']],
  ['has(egress-gateway.io/gateway)', ['dotted']],
  ['has(constructor)', ['proto']],
  ['has(toString)', []],
  ['has(has)', []],
  // in / not in
  ["color in {'red'}", ['red', 'redBig']],
  ["color in {'red', 'blue'}", ['red', 'blue', 'redBig', 'blueSmall']],
  ['color in {"red","blue"}', ['red', 'blue', 'redBig', 'blueSmall']],
  ["color in { 'red' , 'blue' , }", ['red', 'blue', 'redBig', 'blueSmall']],
  ["color in {'red',}", ['red', 'redBig']],
  ['color in {}', []],
  ['color in { }', []],
  ["color in {''}", ['empty']],
  ["color in{'red'}", ['red', 'redBig']],
  ["color not in {'red'}", Object.keys(L).filter((n) => !['red', 'redBig'].includes(n))],
  ['color not in {}', Object.keys(L)],
  ["color notin {'red'}", Object.keys(L).filter((n) => !['red', 'redBig'].includes(n))],
  ["color not  \t in {'red', 'blue'}", Object.keys(L).filter((n) => !['red', 'blue', 'redBig', 'blueSmall'].includes(n))],
  ["!color in {'red'}", Object.keys(L).filter((n) => !['red', 'redBig'].includes(n))],
  ["!color not in {'red'}", ['red', 'redBig']],
  ["tier in {'frontend', 'backend'}", ['prod', 'prodBack', 'staging']],
  ["tier not in {'frontend'}", Object.keys(L).filter((n) => !['prod', 'staging'].includes(n))],
  // contains / starts with / ends with
  ["env contains 'prod'", ['prod', 'prodBack']],
  ["env contains ''", ['prod', 'prodBack', 'staging']],
  ["env contains 'uct'", ['prod']],
  ["env starts with 'prod'", ['prod', 'prodBack']],
  ["env startswith 'prod'", ['prod', 'prodBack']],
  ["env starts  with 'prod-'", ['prodBack']],
  ["env starts\twith 'stag'", ['staging']],
  ["env ends with 'ion'", ['prod']],
  ["env endswith 'eu'", ['prodBack']],
  ["env ends with ''", ['prod', 'prodBack', 'staging']],
  ["env starts with 'Prod'", []],
  ["color contains ' '", ['spaces']],
  ["!env contains 'prod'", Object.keys(L).filter((n) => !['prod', 'prodBack'].includes(n))],
  ["color starts with ''", ['red', 'blue', 'redBig', 'blueSmall', 'empty', 'spaces']],
  // && and ||
  ["color == 'red' && size == 'big'", ['redBig']],
  ["color == 'red'&&size == 'big'", ['redBig']],
  ["color == 'red' && size == 'small'", []],
  ["color == 'red' || color == 'blue'", ['red', 'blue', 'redBig', 'blueSmall']],
  ["color == 'red'||color == 'blue'", ['red', 'blue', 'redBig', 'blueSmall']],
  ["has(size) && !has(color)", []],
  ["has(size) || has(env)", ['redBig', 'blueSmall', 'prod', 'prodBack', 'staging']],
  ["color == 'red' || color == 'blue' && size == 'small'", ['red', 'redBig', 'blueSmall']],
  ["(color == 'red' || color == 'blue') && size == 'small'", ['blueSmall']],
  ["color == 'blue' && size == 'small' || color == 'red'", ['red', 'redBig', 'blueSmall']],
  ["color == 'blue' && (size == 'small' || color == 'red')", ['blueSmall']],
  ["((color == 'red'))", ['red', 'redBig']],
  ["( ( color == 'red' ) )", ['red', 'redBig']],
  ["!(color == 'red' || color == 'blue')", Object.keys(L).filter((n) => !['red', 'blue', 'redBig', 'blueSmall'].includes(n))],
  ["!(has(color) && has(size))", Object.keys(L).filter((n) => !['redBig', 'blueSmall'].includes(n))],
  ["!!(color == 'red')", ['red', 'redBig']],
  ["all() && color == 'red'", ['red', 'redBig']],
  ["!all() || color == 'red'", ['red', 'redBig']],
  ["global() || color == 'blue'", ['blue', 'blueSmall']],
  ["has(env) && env != 'staging' && tier == 'frontend'", ['prod']],
  ["has(env) && (env starts with 'prod' || env ends with 'ing') && tier in {'frontend'}", ['prod', 'staging']],
  // the docs' example: "! has(my-label) || my-label starts with 'prod' && role in {'frontend','business'}"
  ["! has(env) || env starts with 'prod' && tier in {'frontend','business'}", Object.keys(L).filter((n) => !['prodBack', 'staging'].includes(n))],
  // label names that look like keywords are labels
  ["all == 'x'", []],
  ["has == 'x'", []],
  ["in == 'x'", []],
  ["not in {'x'}", []],
  ["not not in {'x'}", Object.keys(L)],
  ["contains contains 'x'", []],
  ["global != 'x'", Object.keys(L)],
  // odd but legal keys
  ["a.b/c-d_e == 'x'", []],
  ["0 == 'x'", []],
  ["- == 'x'", []],
  ["/ == 'x'", []],
];

describe('selector: evaluation table', () => {
  const names = Object.keys(L);
  for (const [text, want] of table) {
    it(JSON.stringify(text), () => {
      const sel = parseSelector(text);
      const got = names.filter((n) => matches(sel, { labels: L[n] as Labels, namespaced: true }));
      assert.deepEqual(got, names.filter((n) => want.includes(n)));
      // The canonical text parses back to the same tree and the same answers.
      const again = parseSelector(printSelector(sel));
      assert.deepEqual(again, sel);
    });
  }
});

describe('selector: global() matches only subjects outside any namespace', () => {
  const sel = parseSelector('global()');
  it('a pod (namespaced): no', () => assert.equal(matches(sel, { labels: {}, namespaced: true }), false));
  it('a non-namespaced subject: yes', () => assert.equal(matches(sel, { labels: {}, namespaced: false }), true));
  it('!global() on a pod: yes', () => assert.equal(matches(parseSelector('!global()'), { labels: {}, namespaced: true }), true));
});

describe('selector: canonical printing', () => {
  const cases: [string, string][] = [
    ['', 'all()'],
    ["color=='red'", 'color == "red"'],
    ['q == \'say "hi"\'', 'q == \'say "hi"\''],
    ["c in {'b','a','b',}", 'c in {"a", "b"}'],
    ["c notin {}", 'c not in {}'],
    ['!!has(a)', 'has(a)'],
    ['!!!has(a)', '!has(a)'],
    ["a == '1' || b == '2' && c == '3'", 'a == "1" || b == "2" && c == "3"'],
    ["(a == '1' || b == '2') && c == '3'", '(a == "1" || b == "2") && c == "3"'],
    ["!(a == '1' && b == '2')", '!(a == "1" && b == "2")'],
    ["x startswith 'p'", 'x starts with "p"'],
    ["x endswith 'p'", 'x ends with "p"'],
    ["x contains 'p'", 'x contains "p"'],
    ['global( )', 'global()'],
  ];
  for (const [input, want] of cases) {
    it(`${JSON.stringify(input)} → ${want}`, () => assert.equal(printSelector(parseSelector(input)), want));
  }
});

describe('selector: errors say what was expected and where', () => {
  /** [input, column (1-based), part of the reason] */
  const bad: [string, number, string][] = [
    ['color', 6, 'expected an operator after label "color", found the end'],
    ["color = 'red'", 7, 'expected "=="'],
    ["color === 'red'", 9, 'expected "=="'],
    ["color == red", 10, 'expected a quoted string after "==", found label "red"'],
    ["color == 'red", 10, 'unterminated string'],
    ['color == "red', 10, 'unterminated string'],
    ["color == 'red' &", 16, 'expected "&&"'],
    ["color == 'red' | x", 16, 'expected "||"'],
    ["color == 'red' &&", 18, 'expected a label, has(), all(), global(), "!" or "(", found the end'],
    ["color == 'red' ||", 18, 'found the end'],
    ["&& color == 'red'", 1, 'expected a label'],
    ["color == 'red' color == 'blue'", 16, 'expected "&&", "||" or the end of the selector, found label "color"'],
    ["(color == 'red'", 16, 'expected ")" to close the "(" at column 1'],
    ["color == 'red')", 15, 'unbalanced ")"'],
    ['()', 2, 'expected a label'],
    ['has()', 5, 'expected a label name in has(...)'],
    ['has(a', 6, 'expected ")" after "has(a"'],
    ['has(a b)', 7, 'expected ")" after "has(a"'],
    ['has (a)', 5, 'expected an operator after label "has", found "("'],
    ['all(', 5, 'expected ")" after "all("'],
    ['all(x)', 5, 'expected ")" after "all("'],
    ['global(x)', 8, 'expected ")" after "global("'],
    ["color in 'red'", 10, 'expected "{" after "in"'],
    ["color in {'red'", 16, 'expected "," or "}" in the set'],
    ["color in {'red' 'blue'}", 17, 'expected "," or "}" in the set'],
    ["color in {,}", 11, 'expected a quoted string or "}" in the set'],
    ["color in {red}", 11, 'expected a quoted string or "}" in the set'],
    ["color not {'red'}", 11, 'expected "in" after "not"'],
    ["color starts 'x'", 14, 'expected "with" after "starts"'],
    ["color ends 'x'", 12, 'expected "with" after "ends"'],
    ["color like 'x'", 7, 'expected an operator after the label'],
    ["color == 'red'\n", 15, 'unexpected line break'],
    ["color\n== 'red'", 6, 'unexpected line break'],
    ["colour? == 'x'", 7, 'unexpected character "?"'],
    ["ñ == 'x'", 1, 'unexpected character "ñ"'],
    ['!', 2, 'found the end'],
    ['!!', 3, 'found the end'],
    ["color == 'red' !", 16, 'expected "&&", "||" or the end of the selector, found "!"'],
    ["color == 'a' == 'b'", 14, 'found "=="'],
    ["a == 'x' has(b)", 10, 'found has(b)'],
    ["'red' == color", 1, 'expected a label, has(), all(), global(), "!" or "(", found string "red"'],
    ["color == 'x' && (", 18, 'found the end'],
    ['{}', 1, 'expected a label'],
  ];
  for (const [input, column, reason] of bad) {
    it(JSON.stringify(input), () => {
      const r = tryParseSelector(input);
      assert.equal(r.ok, false, 'it parsed');
      assert.ok(r.error instanceof SelectorError);
      assert.ok(isGatewayError(r.error, ErrorCodes.SELECTOR_INVALID));
      assert.equal(r.error.position + 1, column, r.error.message);
      assert.ok(r.error.message.includes(reason), `${r.error.message}\n  does not say: ${reason}`);
      assert.ok(r.error.message.startsWith(`selector ${JSON.stringify(input)}: `), r.error.message);
    });
  }

  it('points at the column with a caret', () => {
    const r = tryParseSelector("color = 'red'");
    assert.equal(r.ok, false);
    assert.ok(r.error.message.endsWith("\n  color = 'red'\n        ^"), r.error.message);
  });

  it('tryParseSelector returns the tree for a good one', () => {
    const r = tryParseSelector("a == 'b'");
    assert.deepEqual(r, { ok: true, selector: { op: 'eq', key: 'a', value: 'b' } });
  });
});

describe('selector: generated expressions', () => {
  // A seeded walk over random trees: printing then parsing gives the same tree, and evaluation
  // agrees with a direct evaluation of the tree (so precedence survives printing).
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const keys = ['a', 'b', 'c'];
  const values = ['x', 'y', ''];
  type Tree = ReturnType<typeof parseSelector>;
  const gen = (depth: number): Tree => {
    const k = keys[rand(3)] as string;
    const v = values[rand(3)] as string;
    const pick = depth <= 0 ? rand(8) : rand(11);
    switch (pick) {
      case 0:
        return { op: 'has', key: k };
      case 1:
        return { op: 'eq', key: k, value: v };
      case 2:
        return { op: 'ne', key: k, value: v };
      case 3:
        return { op: 'in', key: k, values: [...new Set([v, values[rand(3)] as string])].sort() };
      case 4:
        return { op: 'notIn', key: k, values: [v] };
      case 5:
        return { op: 'startsWith', key: k, value: v };
      case 6:
        return { op: 'endsWith', key: k, value: v };
      case 7:
        return { op: 'contains', key: k, value: v };
      case 8:
        return { op: 'not', operand: gen(depth - 1) };
      case 9:
        return { op: 'and', operands: [gen(depth - 1), gen(depth - 1)] };
      default:
        return { op: 'or', operands: [gen(depth - 1), gen(depth - 1)] };
    }
  };
  const labelSets: Labels[] = [{}, { a: 'x' }, { a: 'y', b: '' }, { a: '', b: 'x', c: 'y' }, { c: 'x' }];
  it('300 random trees survive print → parse with the same answers', () => {
    for (let i = 0; i < 300; i++) {
      const tree = gen(4);
      const text = printSelector(tree);
      const parsed = parseSelector(text);
      for (const labels of labelSets) {
        assert.equal(matches(parsed, { labels, namespaced: true }), matches(tree, { labels, namespaced: true }), `${text} on ${JSON.stringify(labels)}`);
      }
      assert.equal(printSelector(parsed), printSelector(parseSelector(printSelector(parsed))));
    }
  });
});
