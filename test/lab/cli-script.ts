import { join, sep } from 'node:path';
import { packageRoot } from '../../src/package-root';

/**
 * The CLI as an operator runs it: bin/egress-gateway for the real build (dist/), the launcher next to
 * this file otherwise (a helper's build folder), so tests run the program they were built with.
 */
export function cliScript(): string {
  const root = packageRoot();
  if (__dirname.startsWith(join(root, 'dist') + sep)) return join(root, 'bin', 'egress-gateway');
  return join(__dirname, 'run-cli.js');
}
