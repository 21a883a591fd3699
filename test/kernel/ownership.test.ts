import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientBlockRoute, eventually, prepareGateway } from '../lab/gateway';
import { withLab, type Lab } from '../lab/lab';

/**
 * The gateway owns its state and nothing else (issue 7): routes carry protocol 69, neighbours and
 * FDB entries are the permanent ones on vxlan0, netfilter rules live in EGW-* chains or the
 * egress_gateway table. Foreign routes, rules, neighbours, FDB entries and netfilter rules put in
 * the pod's namespace beforehand stay exactly as they were through init, start, a periodic
 * resync, a Felix restart with a changed snapshot, and the drain.
 */

const gwCmd = (lab: Lab, argv: string[]): Promise<unknown> => lab.exec(lab.names.gwpod, argv);

/** Before init: things on eth0, other tables, rules, netfilter of other owners. */
async function foreignBeforeInit(lab: Lab): Promise<void> {
  await gwCmd(lab, ['ip', 'route', 'add', '203.0.113.0/25', 'via', '169.254.1.1', 'dev', 'eth0', 'proto', 'static']);
  await gwCmd(lab, ['ip', 'route', 'add', '203.0.113.128/25', 'via', '169.254.1.1', 'dev', 'eth0', 'table', '100']);
  await gwCmd(lab, ['ip', 'rule', 'add', 'from', '203.0.113.0/24', 'lookup', '100', 'pref', '1000']);
  await gwCmd(lab, ['ip', 'neigh', 'add', '169.254.1.9', 'lladdr', '02:00:00:00:00:09', 'dev', 'eth0', 'nud', 'permanent']);
  await gwCmd(lab, ['iptables-nft', '-w', '-t', 'nat', '-A', 'POSTROUTING', '-s', '203.0.113.0/24', '-j', 'MASQUERADE']);
  await lab.exec(lab.names.gwpod, ['nft', '-f', '-'], {
    input: 'table ip foreign {\n\tchain post {\n\t\ttype nat hook postrouting priority 100; policy accept;\n\t\tip saddr 203.0.113.0/24 masquerade\n\t}\n}\n',
  });
}

/** After init: things on vxlan0 that look like ours but are not (another protocol, not permanent). */
async function foreignOnVxlan(lab: Lab): Promise<void> {
  await gwCmd(lab, ['ip', 'route', 'add', '100.64.7.0/26', 'via', '198.51.100.77', 'dev', 'vxlan0', 'onlink', 'proto', 'static']);
  await gwCmd(lab, ['ip', 'route', 'add', lab.clientBlock, 'via', lab.addrs.node1, 'dev', 'vxlan0', 'onlink', 'table', '100']);
  await gwCmd(lab, ['ip', 'neigh', 'add', '198.51.100.77', 'lladdr', '02:00:00:00:00:77', 'dev', 'vxlan0', 'nud', 'noarp']);
  await gwCmd(lab, ['bridge', 'fdb', 'add', '02:00:00:00:00:77', 'dev', 'vxlan0', 'dst', '198.51.100.77', 'static']);
  await gwCmd(lab, ['bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxlan0', 'dst', '198.51.100.78', 'static']);
}

/** Everything in the namespace that the gateway does not own, as text. */
async function foreignState(lab: Lab): Promise<string> {
  // allowFail: before init there is no vxlan0 to list; that prints nothing, as an empty table would.
  const out = async (argv: string[]): Promise<string> => (await lab.exec(lab.names.gwpod, argv, { allowFail: true })).stdout;
  const lines = (text: string, keep: (l: string) => boolean): string => text.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '' && keep(l)).join('\n');
  return [
    '# routes',
    lines(await out(['ip', '-4', 'route', 'show', 'table', 'all']), (l) => !/ proto 69\b/.test(l)),
    '# rules',
    await out(['ip', '-4', 'rule']),
    '# neighbours',
    lines(await out(['ip', '-4', 'neigh', 'show', 'nud', 'permanent']), (l) => !/ dev vxlan0 /.test(l)),
    lines(await out(['ip', '-4', 'neigh', 'show', 'nud', 'noarp']), () => true),
    '# fdb',
    lines(await out(['bridge', 'fdb', 'show', 'dev', 'vxlan0']), (l) => !(/ dst /.test(l) && / self permanent/.test(l))),
    '# netfilter of others',
    lines(await out(['iptables-nft-save']), (l) => l.includes('203.0.113')),
    lines(await out(['nft', 'list', 'table', 'ip', 'foreign']), () => true),
  ].join('\n');
}

describe('ownership: foreign state survives the gateway', () => {
  it('foreign routes, rules, neighbours, FDB entries and netfilter rules are unchanged after init, start, resync, a new snapshot and the drain', (t) =>
    withLab(t, async (lab) => {
      await gwCmd(lab, ['ip', 'link', 'set', 'eth0', 'up']);
      await foreignBeforeInit(lab);
      const beforeInit = await foreignState(lab);
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        // init added vxlan0 (its connected routes are not ours to compare) and its own rules only.
        assert.equal(await foreignState(lab), beforeInit, 'init changed nothing of others');
        await foreignOnVxlan(lab);
        const before = await foreignState(lab);
        assert.match(before, /100\.64\.7\.0\/26 via 198\.51\.100\.77 dev vxlan0 proto static onlink/);
        assert.match(before, /02:00:00:00:00:77 dst 198\.51\.100\.77 self static/);

        const daemon = gw.startDaemon({ RESYNC_INTERVAL: '1s', DRAIN_DELAY: '1s' });
        await eventually('programmed', async () => ((await gw.returnPath()).includes(`${lab.clientBlock} via`) ? true : undefined));
        const resyncs = (): number => gw.logs.filter((l) => l.includes('"event":"reconciled"') && l.includes('"reason":"resync"')).length;
        await eventually('two periodic resyncs', async () => (resyncs() >= 2 ? true : undefined), 10_000);
        assert.equal(await foreignState(lab), before, 'after start and resyncs');

        await gw.felix.stop();
        gw.felix.setSnapshot({ routes: [clientBlockRoute(lab, { dst: '100.64.1.64/26' })] });
        await gw.felix.start();
        await eventually('the new snapshot applied', async () => {
          const s = await gw.returnPath();
          return s.includes('100.64.1.64/26 via') && !s.includes(`${lab.clientBlock} via`) ? true : undefined;
        });
        assert.equal(await foreignState(lab), before, 'after a new snapshot that removed our route to the block table 100 also holds');

        const exited = new Promise<number | null>((resolve) => daemon.once('close', resolve));
        daemon.kill('SIGTERM');
        assert.equal(await exited, 0);
        assert.equal(await foreignState(lab), before, 'after the drain');
      } finally {
        await gw.close();
      }
    }));
});
