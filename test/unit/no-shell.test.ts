import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../../src/package-root';

/**
 * No shell anywhere (issue 7): child processes get an argument vector and stdin, never a command
 * line a shell would parse, so no value from the environment, Felix or the kernel can become a
 * command. Checked on the sources, so a new call site fails here before review.
 */

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return /\.(ts|js)$/.test(e.name) ? [path] : [];
  });
}

/** Comments out of the way, so a comment that mentions `exec(` does not count. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

const root = packageRoot();
const files = [...sources(join(root, 'src')), join(root, 'bin', 'egress-gateway')];

const FORBIDDEN: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bexecSync\s*\(/, 'execSync runs a shell'],
  // A call of a bare `exec(`, not a method (`re.exec(`, `this.exec(`) nor a method's definition.
  [/(?<![.\w])(?<!(?:async|private|public|protected|static) )exec\s*\(/, 'child_process.exec runs a shell'],
  [/\bshell\s*:\s*(true|['"`])/, 'shell: true hands the command line to a shell'],
  [/['"`](\/bin\/)?(ba)?sh['"`]\s*,\s*\[\s*['"`]-c/, 'sh -c is a shell'],
];

test('no source starts a shell: no exec/execSync, no shell: true, no sh -c', () => {
  assert.ok(files.length > 20, `the sources were found (${files.length})`);
  const found: string[] = [];
  for (const file of files) {
    const lines = code(readFileSync(file, 'utf8')).split('\n');
    lines.forEach((line, i) => {
      for (const [pattern, why] of FORBIDDEN) if (pattern.test(line)) found.push(`${relative(root, file)}:${i + 1}: ${why}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, []);
});

test('child_process is used in one place only, the argv runner', () => {
  const users = files.filter((f) => /['"](node:)?child_process['"]/.test(code(readFileSync(f, 'utf8')))).map((f) => relative(root, f));
  assert.deepEqual(users, [join('src', 'kernel', 'exec.ts')]);
  const runner = readFileSync(join(root, 'src', 'kernel', 'exec.ts'), 'utf8');
  assert.match(runner, /spawn\(file, args, \{/, 'the runner spawns a file with an argument vector');
});

test('the patterns catch what they are meant to', () => {
  const hits = (line: string): boolean => FORBIDDEN.some(([p]) => p.test(code(line)));
  for (const bad of ["execSync('ip link')", 'exec(`iptables ${x}`)', 'spawn(f, a, { shell: true })', "spawn('sh', ['-c', cmd])"]) {
    assert.ok(hits(bad), bad);
  }
  for (const good of ['/re/.exec(text)', 'part.exec(s)', 'private async exec(file: string) {', "spawn(file, args, { stdio: 'pipe' })", '// exec( in a comment']) {
    assert.ok(!hits(good), good);
  }
});
