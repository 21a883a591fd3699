/**
 * One version for the package, the chart and the image (docs/releases.md): package.json, Chart.yaml's
 * version and appVersion (the chart's default image tag) agree, and CHANGELOG.md has an entry for it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { packageRoot } from '../../src/package-root';

const root = packageRoot();

test('package.json, the chart and its appVersion carry one version, and the changelog names it', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; engines: { node: string } };
  const chart = parse(readFileSync(join(root, 'charts', 'egress-gateway', 'Chart.yaml'), 'utf8')) as { version: string; appVersion: string };
  assert.match(pkg.version, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, 'a semantic version');
  assert.equal(chart.version, pkg.version, 'Chart.yaml version');
  assert.equal(chart.appVersion, pkg.version, 'Chart.yaml appVersion (the default image tag)');
  const changelog = readFileSync(join(root, 'CHANGELOG.md'), 'utf8');
  assert.match(changelog, new RegExp(`^## ${pkg.version.replaceAll('.', '\\.')}\\b`, 'm'), `CHANGELOG.md has a "## ${pkg.version}" entry`);
});

test('the Node releases CI tests are the ones engines.node and .node-version promise', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
  const own = readFileSync(join(root, '.node-version'), 'utf8').trim();
  const compat = /COMPAT_NODE_VERSION:-(\d+\.\d+\.\d+)/.exec(readFileSync(join(root, 'scripts', 'test.sh'), 'utf8'))?.[1];
  assert.ok(compat, 'scripts/test.sh names the Node release it also runs the unit tests on');
  const floor = /^>=(\d+)\.(\d+)$/.exec(pkg.engines.node);
  assert.ok(floor, `engines.node is a ">=major.minor" floor: ${pkg.engines.node}`);
  const [major, minor] = compat.split('.').map(Number) as [number, number];
  assert.equal(major, Number(floor[1]), 'the second release is the oldest major engines allows');
  assert.ok(minor >= Number(floor[2]), `${compat} satisfies ${pkg.engines.node}`);
  assert.ok(Number(own.split('.')[0]) > major, `.node-version (${own}) is the newer LTS`);
  assert.match(readFileSync(join(root, 'Dockerfile'), 'utf8'), new RegExp(`^ARG NODE_IMAGE=node:${own.split('.')[0]}-bookworm-slim$`, 'm'), 'the image builds on the same Node major');
});
