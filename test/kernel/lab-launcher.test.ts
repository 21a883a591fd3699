import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { clientBlockRoute, eventually, prepareGateway } from '../lab/gateway';
import { withLab } from '../lab/lab';
import { DAEMON_NODE_FLAGS } from '../lab/cli-script';

/**
 * The daemon the kernel tests measure (the soak's RSS above all) is the one users run: Node with
 * bin/egress-gateway's flags. Read from the running process's command line, in its namespace.
 */
describe('lab: the daemon as users run it', () => {
  it('the gateway daemon the lab starts carries the launcher’s Node flags', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        const daemon = gw.startDaemon();
        await eventually('programmed', async () => ((await gw.returnPath()).includes(`${lab.clientBlock} via`) ? true : undefined));
        const argv = readFileSync(`/proc/${daemon.pid ?? 0}/cmdline`, 'utf8').split('\0').filter(Boolean);
        assert.equal(argv[0], process.execPath, argv.join(' '));
        assert.deepEqual(argv.slice(1, 1 + DAEMON_NODE_FLAGS.length), [...DAEMON_NODE_FLAGS], argv.join(' '));
        assert.deepEqual(argv.slice(-1), ['start']);
      } finally {
        await gw.close();
      }
    }));
});
