import { readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { packageRoot } from '../../src/package-root';

/** The launcher users run: its `#!/usr/bin/env -S node …` line carries the daemon's Node flags. */
export const LAUNCHER = join(packageRoot(), 'bin', 'egress-gateway');

/**
 * The CLI as an operator runs it: bin/egress-gateway for the real build (dist/), the launcher next to
 * this file otherwise (a helper's build folder), so tests run the program they were built with.
 */
export function cliScript(): string {
  const root = packageRoot();
  if (__dirname.startsWith(join(root, 'dist') + sep)) return LAUNCHER;
  return join(__dirname, 'run-cli.js');
}

/** The Node flags on a launcher's first line (`#!/usr/bin/env -S node --flag …`). */
export function launcherNodeFlags(launcherText: string): string[] {
  const first = launcherText.split('\n')[0] ?? '';
  return first.split(/\s+/).filter((w) => w.startsWith('--'));
}

/**
 * The Node flags bin/egress-gateway starts the daemon with. The lab and the benchmarks start the
 * CLI with process.execPath (the project's Node, not whatever `node` is on PATH), which skips the
 * launcher's line, so they pass these themselves: otherwise they measure a daemon with V8's default
 * young generation (the soak saw it grow to 128 MiB under churn), not the one users run.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = launcherNodeFlags(readFileSync(LAUNCHER, 'utf8'));

/** argv that runs `script` (a CLI entry) as the launcher would: [node, ...flags, script]. */
export function cliCommandFor(script: string): string[] {
  return [process.execPath, ...DAEMON_NODE_FLAGS, script];
}
