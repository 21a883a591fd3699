import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DAEMON_NODE_FLAGS, cliCommandFor, LAUNCHER, launcherNodeFlags } from '../lab/cli-script';

/**
 * The lab and the benchmarks start the CLI with process.execPath, which skips bin/egress-gateway's
 * `#!/usr/bin/env -S node …` line; they must pass its Node flags themselves, or they measure a daemon
 * users never run (the soak saw V8's default young generation grow to 128 MiB and called it a leak).
 */
describe('lab: the daemon runs with the launcher’s Node flags', () => {
  it('reads the flags from a launcher’s first line', () => {
    assert.deepEqual(launcherNodeFlags('#!/usr/bin/env -S node --max-semi-space-size=2 --stack-trace-limit=50\n--not-this\n'), [
      '--max-semi-space-size=2',
      '--stack-trace-limit=50',
    ]);
    assert.deepEqual(launcherNodeFlags('#!/usr/bin/env node\nrequire("x");\n'), []);
  });

  it('the command is node, then bin/egress-gateway’s flags, then the script', () => {
    const firstLine = readFileSync(LAUNCHER, 'utf8').split('\n')[0] ?? '';
    const flags = firstLine.split(' ').filter((w) => w.startsWith('--'));
    assert.ok(flags.length > 0, `bin/egress-gateway's first line carries Node flags: ${firstLine}`);
    assert.deepEqual(DAEMON_NODE_FLAGS, flags);
    assert.deepEqual(cliCommandFor('/x/run-cli.js'), [process.execPath, ...flags, '/x/run-cli.js']);
  });
});
