import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientVtepMac } from '../../src/model/mac';
import {
  CLIENT_NODE_NAME,
  clientBlockRoute,
  clientBlockRoute6,
  eventually,
  gatewayBlockRoute,
  gatewayBlockRoute6,
  prepareGateway,
  type GatewayRun,
  untilReady,
} from '../lab/gateway';
import { waitForOutput, withLab, type Lab } from '../lab/lab';

/**
 * Dual-stack (issue 8) on a real kernel: a TCP connection from the client pod over IPv6 leaves the
 * gateway with its IPv6 egress address (seen by tcpdump in ext), its SYN clamped to vxlan0's MTU
 * minus 60, and the reply gets back only because the daemon programmed the IPv6 return path from
 * Felix's IPv6 RouteUpdate. Dual-stack pods tunnel IPv6 inside the IPv4 VXLAN device; an IPv6-only
 * pod's vxlan0 runs over IPv6.
 */
const PORT = '7777';
const PORT4 = '7778';
const vtepMac = clientVtepMac(CLIENT_NODE_NAME);
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The IPv6 part of the owned return path, as iproute2 prints it. */
async function returnPath6(lab: Lab): Promise<string> {
  const gw = lab.names.gwpod;
  const routes = await lab.exec(gw, ['ip', '-6', 'route', 'show', 'proto', '69']);
  const neigh = await lab.exec(gw, ['ip', '-6', 'neigh', 'show', 'dev', 'vxlan0', 'nud', 'permanent']);
  const fdb = await lab.exec(gw, ['bridge', 'fdb', 'show', 'dev', 'vxlan0']);
  const tidy = (text: string): string =>
    text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .join('\n');
  const owned = fdb.stdout.split('\n').filter((l) => / dst /.test(l) && /permanent/.test(l));
  return `routes:\n${tidy(routes.stdout)}\nneighbours:\n${tidy(neigh.stdout)}\nfdb:\n${tidy(owned.join('\n'))}\n`;
}

/** What the daemon should program for the client's IPv6 block; `fdbDst` is vxlan0's underlay address for node1. */
function expected6(lab: Lab, fdbDst: string): RegExp {
  return new RegExp(
    [
      'routes:',
      `${esc(lab.clientBlock6)} via ${esc(lab.addrs6.node1)} dev vxlan0 metric \\d+ onlink pref medium`,
      'neighbours:',
      `${esc(lab.addrs6.node1)} lladdr ${vtepMac} PERMANENT`,
      'fdb:',
      `${vtepMac} dst ${esc(fdbDst)} self permanent`,
      '',
    ].join('\n'),
  );
}

async function connect(lab: Lab, host: string, port: string, text: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return lab.exec(lab.names.cpod, lab.tcpTool('connect', host, port, text, '2000'), { allowFail: true });
}

/**
 * The client block's IPv6 RouteUpdate arrives only after the daemon is in sync, so the test first
 * sees the connection fail (no way back), then succeed once the daemon programmed the route.
 */
async function proveIpv6Egress(lab: Lab, gw: GatewayRun, opts: { fdbDst: string; mss: number }): Promise<void> {
  const { addrs6: a } = lab;
  const server = lab.spawn(lab.names.ext, lab.tcpTool('serve', PORT, '::'));
  await waitForOutput(server, /listening/);
  gw.startDaemon();
  await untilReady(gw, 'the daemon in sync', 15_000);
  assert.doesNotMatch(await returnPath6(lab), /via/, 'no IPv6 return route before Felix names the block');
  const blocked = await connect(lab, a.ext, PORT, 'no way back');
  assert.notEqual(blocked.code, 0, 'without the IPv6 return path the reply cannot reach the client');

  const seenAtExt = await lab.capture(lab.names.ext, 'eth0', ['ip6', 'and', 'tcp', 'port', PORT]);
  const leaving = await lab.capture(lab.names.gwpod, 'eth0', ['ip6', 'and', 'tcp', 'port', PORT, 'and', 'ip6[53] & 0x02 != 0']);
  gw.felix.sendRouteUpdate(clientBlockRoute6(lab));
  await eventually('the IPv6 return path programmed', async () => (expected6(lab, opts.fdbDst).test(await returnPath6(lab)) ? true : undefined));

  const peer = waitForOutput(server, new RegExp(`peer ${esc(a.gwpod)} \\d+`));
  const ok = await connect(lab, a.ext, PORT, 'hello over IPv6');
  assert.equal(ok.code, 0, `connect over IPv6 failed: ${ok.stderr}`);
  assert.equal(ok.stdout, 'hello over IPv6\n', 'the echo came back to the client pod');
  await peer;

  await seenAtExt.waitFor(new RegExp(`${esc(a.ext)}\\.${PORT} > ${esc(a.gwpod)}\\.\\d+: Flags \\[P`));
  const ext = await seenAtExt.stop();
  const syns = ext.split('\n').filter((l) => /Flags \[S\]/.test(l));
  const syn = syns.at(-1);
  assert.ok(syn, `no SYN seen at ext:\n${ext}`);
  assert.match(syn, new RegExp(`IP6 ${esc(a.gwpod)}\\.\\d+ > ${esc(a.ext)}\\.${PORT}: Flags \\[S\\]`), 'the SYN carries the IPv6 egress address');
  assert.match(syn, new RegExp(`mss ${opts.mss}[,\\]]`), `the SYN's MSS is vxlan0's MTU - 60:\n${syn}`);
  assert.doesNotMatch(ext, new RegExp(`IP6 ${esc(a.cpod)}\\.\\d+ >`), 'the client pod address never leaves as a source');

  const gwOut = await leaving.stop();
  assert.match(gwOut, new RegExp(`IP6 ${esc(a.gwpod)}\\.\\d+ > ${esc(a.ext)}\\.${PORT}: Flags \\[S\\].*mss ${opts.mss}`), `SYN leaving gwpod eth0:\n${gwOut}`);
}

describe('dual-stack pod: IPv6 rides the IPv4 tunnel and leaves with the IPv6 egress address', () => {
  const variants: Array<[string, Record<string, string>, 'v4-first' | 'v6-first']> = [
    ['iptables, legacy', { DATAPLANE: 'iptables', IPTABLES_BACKEND: 'legacy' }, 'v4-first'],
    ['iptables, nft (EGRESS_POD_IPS IPv6 first)', { DATAPLANE: 'iptables', IPTABLES_BACKEND: 'nft' }, 'v6-first'],
    ['nftables', { DATAPLANE: 'nftables' }, 'v4-first'],
  ];
  for (const [name, initEnv, order] of variants) {
    it(name, (t) =>
      withLab(
        t,
        async (lab) => {
          const podIps = order === 'v4-first' ? `${lab.addrs.gwpod},${lab.addrs6.gwpod}` : `${lab.addrs6.gwpod},${lab.addrs.gwpod}`;
          const gw = await prepareGateway(lab, { routes: [gatewayBlockRoute(lab), gatewayBlockRoute6(lab), clientBlockRoute(lab)] }, { podIps, initEnv });
          try {
            const link = await lab.exec(lab.names.gwpod, ['ip', '-d', 'link', 'show', 'vxlan0']);
            assert.match(link.stdout, /mtu 1450 /, 'vxlan0 on the IPv4 underlay keeps MTU 1500 - 50');
            assert.match(link.stdout, new RegExp(`link/ether ${lab.vxlan.gatewayMac} .*\\n.*local ${esc(lab.addrs.gwpod)} `), 'named after the IPv4 address');
            const fwd = await lab.exec(lab.names.gwpod, ['sysctl', '-n', 'net.ipv6.conf.all.forwarding', 'net.ipv6.conf.vxlan0.forwarding']);
            assert.equal(fwd.stdout, '1\n1\n', 'IPv6 forwarding is on');

            // The IPv4 block of the same node is what tells the gateway node1's IPv4 underlay address.
            await proveIpv6Egress(lab, gw, { fdbDst: lab.addrs.node1, mss: 1390 });

            // IPv4 keeps working next to it, through the same tunnel and FDB entry.
            const server4 = lab.spawn(lab.names.ext, lab.tcpTool('serve', PORT4));
            await waitForOutput(server4, /listening/);
            const peer4 = waitForOutput(server4, new RegExp(`peer ${esc(lab.addrs.gwpod)} \\d+`));
            const ok4 = await connect(lab, lab.addrs.ext, PORT4, 'hello over IPv4');
            assert.equal(ok4.code, 0, `connect over IPv4 failed: ${ok4.stderr}`);
            await peer4;
          } finally {
            await gw.close();
          }
        },
        { ipv6: true },
      ),
    );
  }
});

describe('IPv6-only pod: vxlan0 runs over IPv6', () => {
  for (const [name, initEnv] of [
    ['nftables', { DATAPLANE: 'nftables' }],
    ['iptables, nft', { DATAPLANE: 'iptables', IPTABLES_BACKEND: 'nft' }],
  ] as const) {
    it(name, (t) =>
      withLab(
        t,
        async (lab) => {
          const gw = await prepareGateway(lab, { routes: [gatewayBlockRoute6(lab)] }, { podIps: lab.addrs6.gwpod, initEnv });
          try {
            const link = await lab.exec(lab.names.gwpod, ['ip', '-d', 'link', 'show', 'vxlan0']);
            assert.match(link.stdout, /mtu 1430 /, 'an IPv6 underlay costs 70 bytes: 1500 - 70');
            assert.match(link.stdout, new RegExp(`link/ether a2:2a:00:00:00:07 .*\\n.*local ${esc(lab.addrs6.gwpod)} `));
            const v4 = await lab.exec(lab.names.gwpod, ['sysctl', '-n', 'net.ipv4.ip_forward']);
            assert.equal(v4.stdout, '0\n', 'no IPv4 forwarding on a pod without IPv4');
            await proveIpv6Egress(lab, gw, { fdbDst: lab.addrs6.node1, mss: 1370 });
          } finally {
            await gw.close();
          }
        },
        { ipv6: 'only' },
      ),
    );
  }
});
