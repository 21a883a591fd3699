import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { variablesMarkdownTable } from '../../src/config/variables';
import { packageRoot } from '../../src/package-root';

const readme = readFileSync(join(packageRoot(), 'README.md'), 'utf8');

test('the README environment table is the one generated from src/config/variables.ts', () => {
  const begin = readme.indexOf('<!-- env-table:begin');
  const end = readme.indexOf('<!-- env-table:end -->');
  assert.ok(begin >= 0 && end > begin, 'README.md keeps the env-table markers');
  const table = readme.slice(readme.indexOf('\n', begin) + 1, end);
  assert.equal(table, variablesMarkdownTable(), 'run `make build && node scripts/update-readme.js`');
});

test('the README names the two set-up commands that CI and newcomers use', () => {
  assert.match(readme, /^make demo\b/m);
  assert.match(readme, /^make test\b/m);
  const ci = readFileSync(join(packageRoot(), '.ci', 'run'), 'utf8');
  assert.match(ci, /^make test$/m, '.ci/run calls the README test command');
});
