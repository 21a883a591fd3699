import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { clientVtepMac } from '../../src/model/mac';
import { CLIENT_NODE_NAME, clientBlockRoute, eventually, gatewayBlockRoute, metricValue, prepareGateway } from '../lab/gateway';
import { waitForOutput, withLab, type Lab } from '../lab/lab';

/**
 * The daemon's core on a real kernel (issue 3): the return path appears only when Felix names the
 * client block, survives Felix and daemon restarts without disturbing traffic, and repairs drift.
 */
const PORT = '7777';
const vtepMac = clientVtepMac(CLIENT_NODE_NAME);

function expectedReturnPath(lab: Lab): string {
  return [
    'routes:',
    `${lab.clientBlock} via ${lab.addrs.node1} dev vxlan0 onlink`,
    'neighbours:',
    `${lab.addrs.node1} lladdr ${vtepMac} PERMANENT`,
    'fdb:',
    `${vtepMac} dst ${lab.addrs.node1} self permanent`,
    '',
  ].join('\n');
}

async function connectOnce(lab: Lab, text: string): Promise<{ code: number; stdout: string }> {
  return lab.exec(lab.names.cpod, lab.tcpTool('connect', lab.addrs.ext, PORT, text, '2000'), { allowFail: true });
}

describe('daemon: the return path follows Felix', () => {
  it('no route → no reply; RouteUpdate + in_sync → traffic with the egress IP; RouteRemove → entries gone', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [gatewayBlockRoute(lab)] });
      try {
        const server = lab.spawn(lab.names.ext, lab.tcpTool('serve', PORT));
        await waitForOutput(server, /listening/);
        gw.startDaemon();
        await eventually('the daemon in sync', async () => ((await gw.health('/readiness'))?.body.includes('"policysync"') ? true : undefined));
        await eventually('first reconcile', async () => (gw.logs.some((l) => l.includes('"reconciled"') || l.includes('reconcile')) ? true : undefined));

        assert.equal(await gw.returnPath(), 'routes:\n\nneighbours:\n\nfdb:\n\n', 'nothing programmed for the gateway’s own block');
        const blocked = await connectOnce(lab, 'no way back');
        assert.notEqual(blocked.code, 0, 'without the return path the reply cannot reach the client');

        const seenAtExt = await lab.capture(lab.names.ext, 'eth0', ['tcp', 'port', PORT, 'and', 'tcp[tcpflags] & tcp-syn != 0']);
        gw.felix.sendRouteUpdate(clientBlockRoute(lab));
        await eventually('the return path programmed', async () => ((await gw.returnPath()) === expectedReturnPath(lab) ? true : undefined));
        const ok = await connectOnce(lab, 'hello via the daemon');
        assert.equal(ok.code, 0, 'the connection succeeds once the daemon programmed the return path');
        assert.equal(ok.stdout, 'hello via the daemon\n');
        const syn = await seenAtExt.waitFor(/Flags \[S\]/);
        assert.match(syn, new RegExp(`IP ${lab.addrs.gwpod.replaceAll('.', '\\.')}\\.\\d+ > ${lab.addrs.ext.replaceAll('.', '\\.')}\\.${PORT}: Flags \\[S\\]`));
        // Only the source matters: the blocked attempt's SYN-ACKs to 100.64.1.5 may still bounce around the lab.
        assert.doesNotMatch(await seenAtExt.stop(), /IP 100\.64\.1\.5\.\d+ >/, 'the client pod address never leaves as a source');

        gw.felix.sendRouteRemove(lab.clientBlock);
        await eventually('the return path removed', async () => ((await gw.returnPath()) === 'routes:\n\nneighbours:\n\nfdb:\n\n' ? true : undefined));
      } finally {
        await gw.close();
      }
    }));

  it('Felix restarted with a changed snapshot: only the difference is applied, stale entries go', (t) =>
    withLab(t, async (lab) => {
      const stale = clientBlockRoute(lab, { dst: '100.64.1.64/26' });
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab), stale] });
      try {
        gw.startDaemon();
        await eventually('both blocks programmed', async () => ((await gw.returnPath()).includes('100.64.1.64/26') ? true : undefined));
        const monitor = lab.spawn(lab.names.gwpod, ['ip', 'monitor', 'route']);
        await new Promise((r) => setTimeout(r, 300));

        await gw.felix.stop();
        gw.felix.setSnapshot({ routes: [clientBlockRoute(lab), clientBlockRoute(lab, { dst: '100.64.1.128/26' })] });
        await gw.felix.start();
        await eventually('new snapshot applied', async () => {
          const state = await gw.returnPath();
          return state.includes('100.64.1.128/26') && !state.includes('100.64.1.64/26') ? state : undefined;
        });
        await new Promise((r) => setTimeout(r, 300));
        monitor.kill('SIGTERM');
        const events: string[] = [];
        monitor.stdout?.setEncoding('utf8');
        for await (const chunk of monitor.stdout ?? []) events.push(String(chunk));
        const changes = events.join('').split('\n').filter((l) => l.includes('proto 69'));
        assert.deepEqual(
          changes.map((l) => l.replace(/\s+$/, '')),
          [`100.64.1.128/26 via ${lab.addrs.node1} dev vxlan0 proto 69 onlink`, `Deleted 100.64.1.64/26 via ${lab.addrs.node1} dev vxlan0 proto 69 onlink`],
          'exactly one add and one delete; the unchanged block was not touched',
        );
        assert.match(await gw.returnPath(), new RegExp(`${lab.clientBlock.replace('.', '\\.')} via`));
      } finally {
        await gw.close();
      }
    }));

  it('daemon SIGKILLed and restarted: a long-lived connection keeps working, nothing is re-added', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        const server = lab.spawn(lab.names.ext, lab.tcpTool('serve', PORT));
        await waitForOutput(server, /listening/);
        gw.startDaemon();
        await eventually('programmed', async () => ((await gw.returnPath()) === expectedReturnPath(lab) ? true : undefined));

        const chat = lab.spawn(lab.names.cpod, [process.execPath, join(__dirname, '../lab/tcp-chat.js'), lab.addrs.ext, PORT, '6000', '200']);
        await waitForOutput(chat, /echo 1\b/);
        // IPv4 only: vxlan0's IPv6 link-local address may still be settling, which is not our doing.
        const monitor = lab.spawn(lab.names.gwpod, ['ip', '-4', 'monitor', 'route', 'neigh']);
        const fdbMonitor = lab.spawn(lab.names.gwpod, ['bridge', 'monitor', 'fdb']);
        await new Promise((r) => setTimeout(r, 200));

        await gw.kill();
        await new Promise((r) => setTimeout(r, 500));
        gw.startDaemon();
        await eventually('the restarted daemon reconciled', async () =>
          gw.logs.filter((l) => l.includes('"event":"reconciled"')).length >= 2 ? true : undefined,
        );

        const chatOut = await new Promise<{ code: number | null; out: string }>((resolve) => {
          let out = '';
          chat.stdout?.on('data', (c: Buffer) => (out += c.toString()));
          chat.once('close', (code) => resolve({ code, out }));
        });
        assert.equal(chatOut.code, 0, `the long-lived connection broke:\n${chatOut.out}`);
        monitor.kill('SIGTERM');
        fdbMonitor.kill('SIGTERM');
        let monitored = '';
        for await (const chunk of monitor.stdout ?? []) monitored += String(chunk);
        for await (const chunk of fdbMonitor.stdout ?? []) monitored += String(chunk);
        assert.equal(monitored.split('\n').filter((l) => l.includes('vxlan0')).join('\n'), '', 'the restart changed nothing on vxlan0');
        assert.equal(await gw.returnPath(), expectedReturnPath(lab));
      } finally {
        await gw.close();
      }
    }));

  it('a route, neighbour or FDB entry changed by hand is repaired at once, from the kernel\'s notification (resync period 30 s)', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        gw.startDaemon({ RESYNC_INTERVAL: '30s' });
        await eventually('programmed', async () => ((await gw.returnPath()) === expectedReturnPath(lab) ? true : undefined));
        const repaired = (what: string): Promise<unknown> =>
          eventually(what, async () => ((await gw.returnPath()) === expectedReturnPath(lab) ? true : undefined), 3_000);
        await lab.exec(lab.names.gwpod, ['ip', 'route', 'del', lab.clientBlock, 'proto', '69']);
        await repaired('the deleted route is back well before the resync');
        await lab.exec(lab.names.gwpod, ['ip', 'neigh', 'replace', lab.addrs.node1, 'lladdr', '66:00:00:00:00:99', 'dev', 'vxlan0', 'nud', 'permanent']);
        await repaired('the neighbour has its MAC back');
        await lab.exec(lab.names.gwpod, ['bridge', 'fdb', 'del', vtepMac, 'dev', 'vxlan0', 'self']);
        await repaired('the FDB entry is back');
        const kernelReported = gw.logs.filter((l) => l.includes('"event":"reconciled"') && l.includes('kernel reported a change'));
        assert.ok(kernelReported.length >= 3, `each repair was a pass the kernel's notification started:\n${kernelReported.join('\n')}`);
        assert.equal(gw.logs.filter((l) => l.includes('"reason":"resync"')).length, 0, 'no periodic resync had come yet');
      } finally {
        await gw.close();
      }
    }));

  it('a route deleted by hand comes back within the resync period; malformed messages are skipped and counted', (t) =>
    withLab(t, async (lab) => {
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        gw.startDaemon({ RESYNC_INTERVAL: '2s' });
        await eventually('programmed', async () => ((await gw.returnPath()) === expectedReturnPath(lab) ? true : undefined));
        // (The deletion succeeded or exec would throw; whether the route is still missing when read
        // back is a race: the kernel's notification may have had it repaired already.)
        await lab.exec(lab.names.gwpod, ['ip', 'route', 'del', lab.clientBlock, 'proto', '69']);
        await eventually('route repaired by the resync', async () => ((await gw.returnPath()) === expectedReturnPath(lab) ? true : undefined), 5_000);

        for (const bad of ['bad_cidr', 'bad_ip', 'family_mismatch', 'empty_node_name'] as const) gw.felix.sendMalformed(bad);
        gw.felix.sendRouteUpdate(clientBlockRoute(lab, { dst: '100.64.1.192/26' }));
        await eventually('the valid update after the malformed ones applied', async () =>
          (await gw.returnPath()).includes('100.64.1.192/26') ? true : undefined,
        );
        const metrics = await gw.health('/metrics');
        assert.ok(metrics, 'metrics answered');
        assert.equal(metricValue(metrics.body, 'egress_gateway_policysync_malformed_messages_total'), 4);
        assert.equal(gw.daemon?.exitCode, null, 'the daemon is still running');
        const warned = gw.logs.filter((l) => l.includes('malformed'));
        assert.ok(warned.length >= 4, `each malformed message is logged:\n${warned.join('\n')}`);
      } finally {
        await gw.close();
      }
    }));
});
