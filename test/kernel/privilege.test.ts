import assert from 'node:assert/strict';
import { chmodSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { clientBlockRoute, eventually, prepareGateway, untilReady } from '../lab/gateway';
import { waitForOutput, withLab } from '../lab/lab';

/**
 * Least privilege (issue 7): `start` needs CAP_NET_ADMIN (netlink writes, vxlan0 repair) and
 * CAP_NET_RAW (ICMP probes) and nothing else; init is the only privileged step. The daemon runs
 * here under setpriv with exactly those two, as root without the rest (the container's form) and
 * as an unprivileged uid with them as ambient capabilities.
 */

const CAPS = '+net_admin,+net_raw';
/** CapEff with bits 12 (NET_ADMIN) and 13 (NET_RAW) only. */
const NET_ADMIN_AND_RAW = '0000000000003000';

const variants: Array<{ name: string; prefix: string[] }> = [
  {
    name: 'root with NET_ADMIN and NET_RAW only (the container)',
    prefix: ['setpriv', `--bounding-set=-all,${CAPS}`, `--inh-caps=-all,${CAPS}`, `--ambient-caps=-all,${CAPS}`],
  },
  {
    name: 'uid 65534 with NET_ADMIN and NET_RAW as ambient capabilities',
    prefix: [
      'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
      `--bounding-set=-all,${CAPS}`, `--inh-caps=-all,${CAPS}`, `--ambient-caps=-all,${CAPS}`,
    ],
  },
];

describe('least privilege: start with NET_ADMIN and NET_RAW only', () => {
  for (const v of variants) {
    it(`${v.name}: return path programmed, ICMP probe answering, readiness 200, vxlan0 repaired`, (t) =>
      withLab(t, async (lab) => {
        const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
        try {
          // The socket is Felix's to share with the pod; an unprivileged uid needs write access to it.
          chmodSync(dirname(gw.socketPath), 0o711);
          chmodSync(gw.socketPath, 0o666);
          const server = lab.spawn(lab.names.ext, lab.tcpTool('serve', '7777'));
          await waitForOutput(server, /listening/);
          const daemon = gw.startDaemon({ ICMP_PROBE_IPS: lab.addrs.ext, ICMP_PROBE_INTERVAL: '500ms', ICMP_PROBE_TIMEOUT: '1500ms' }, v.prefix);
          await untilReady(gw, 'ready', 15_000);
          const status = readFileSync(`/proc/${daemon.pid ?? 0}/status`, 'utf8');
          assert.equal(/^CapEff:\s*(\S+)$/m.exec(status)?.[1], NET_ADMIN_AND_RAW, 'the daemon holds exactly NET_ADMIN and NET_RAW');
          assert.equal(/^CapBnd:\s*(\S+)$/m.exec(status)?.[1], NET_ADMIN_AND_RAW, 'and cannot gain more');
          if (v.prefix.includes('--reuid=65534')) assert.match(status, /^Uid:\s+65534\s/m);

          assert.match(await gw.returnPath(), new RegExp(`${lab.clientBlock.replace(/\./g, '\\.')} via ${lab.addrs.node1.replace(/\./g, '\\.')} dev vxlan0 onlink`));
          const body = (await gw.health('/readiness'))?.body ?? '';
          assert.match(body, /"icmp":\{"ok":true/, 'the ICMP probe answers through a raw socket');
          const ok = await lab.exec(lab.names.cpod, lab.tcpTool('connect', lab.addrs.ext, '7777', 'least privilege', '3000'), { allowFail: true });
          assert.equal(ok.code, 0, ok.stderr);

          // NET_ADMIN is enough to put vxlan0 back.
          const broken = gw.logs.length;
          await lab.exec(lab.names.gwpod, ['ip', 'link', 'del', 'vxlan0']);
          await eventually('vxlan0 re-created and the return path back', async () =>
            gw.logs.slice(broken).some((l) => l.includes('"event":"vxlan_device_restored"')) && (await gw.returnPath()).includes('via') ? true : undefined,
          15_000);
          await untilReady(gw, 'ready again', 15_000);
          assert.equal(gw.logs.filter((l) => /"level":"(error|fatal)"/.test(l)).join('\n'), '', 'no errors logged');
          assert.equal(daemon.exitCode, null);
        } finally {
          await gw.close();
        }
      }));
  }
});
