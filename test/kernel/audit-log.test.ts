import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLIENT_NODE_NAME, clientBlockRoute, eventually, metricValue, prepareGateway } from '../lab/gateway';
import { waitForOutput, withLab } from '../lab/lab';

/**
 * The SNAT audit log on a real kernel (issue 8): connections from the client pod through the
 * gateway appear in the audit file with the tuple the destination saw, start and end, and the end
 * carries the kernel's byte and packet counters (the daemon switched accounting on in its namespace).
 */
const TCP_PORT = '7777';
const UDP_PORT = 7778;
/** The UDP client's fixed source port: the second datagram reuses the first one's expired conntrack entry. */
const UDP_CLIENT_PORT = 40001;

/** A UDP echo server: answers each datagram with its text; prints "listening" once bound. */
const UDP_ECHO = `
const s = require('node:dgram').createSocket('udp4');
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(Number(process.argv[2]), process.argv[1], () => console.log('listening'));
`;
/** Sends one datagram from a fixed source port and waits for the echo (exit 1 after 3 s without). */
const UDP_CLIENT = `
const [host, port, sport, text] = process.argv.slice(1);
const s = require('node:dgram').createSocket({ type: 'udp4', reuseAddr: true });
const t = setTimeout(() => process.exit(1), 3000);
s.on('message', (m) => { console.log(String(m)); clearTimeout(t); s.close(); });
s.bind(Number(sport), () => s.send(text, Number(port), host));
`;

type Line = Record<string, unknown>;

function readAudit(path: string): Line[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line);
}

describe('SNAT audit log', () => {
  it('logs a TCP and a UDP connection with the tuple the destination saw; the end line has counters and duration', (t) =>
    withLab(t, async (lab) => {
      const dir = mkdtempSync(join(tmpdir(), 'egw-audit-'));
      const auditPath = join(dir, 'audit.jsonl');
      const gw = await prepareGateway(lab, { routes: [clientBlockRoute(lab)] });
      try {
        const gwns = lab.names.gwpod;
        // A fresh namespace starts with accounting off: the daemon must turn it on itself.
        assert.equal((await lab.exec(gwns, ['sysctl', '-n', 'net.netfilter.nf_conntrack_acct'])).stdout.trim(), '0');
        // Unreplied-UDP entries expire after 1 s here, so the test sees a UDP connection end within seconds.
        await lab.exec(gwns, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_udp_timeout=1']);

        const tcpServer = lab.spawn(lab.names.ext, lab.tcpTool('serve', TCP_PORT));
        await waitForOutput(tcpServer, /listening/);
        const udpServer = lab.spawn(lab.names.ext, [process.execPath, '-e', UDP_ECHO, lab.addrs.ext, String(UDP_PORT)]);
        await waitForOutput(udpServer, /listening/);

        gw.startDaemon({ AUDIT_LOG: auditPath, AUDIT_LOG_RATE: '100', AUDIT_LOG_BURST: '100' });
        await eventually('the audit subscribed', async () => (gw.logs.some((l) => l.includes('"event":"audit_started"')) ? true : undefined));
        await eventually('the return path programmed', async () => ((await gw.returnPath()).includes(`${lab.clientBlock} via`) ? true : undefined));
        assert.equal((await lab.exec(gwns, ['sysctl', '-n', 'net.netfilter.nf_conntrack_acct'])).stdout.trim(), '1', 'the daemon set nf_conntrack_acct');
        assert.equal((await lab.exec(gwns, ['sysctl', '-n', 'net.netfilter.nf_conntrack_timestamp'])).stdout.trim(), '1');

        // TCP: the start line names the egress port the destination really saw.
        const seenAtExt = await lab.capture(lab.names.ext, 'eth0', ['tcp', 'dst', 'port', TCP_PORT, 'and', 'tcp[tcpflags] & tcp-syn != 0']);
        const tcp = await lab.exec(lab.names.cpod, lab.tcpTool('connect', lab.addrs.ext, TCP_PORT, 'audited', '2000'), { allowFail: true });
        assert.equal(tcp.code, 0, `the TCP connection through the gateway failed: ${tcp.stderr}`);
        const syn = await seenAtExt.waitFor(/Flags \[S\]/);
        await seenAtExt.stop();
        const synMatch = new RegExp(`IP ${lab.addrs.gwpod.replaceAll('.', '\\.')}\\.(\\d+) > ${lab.addrs.ext.replaceAll('.', '\\.')}\\.${TCP_PORT}:`).exec(syn);
        assert.ok(synMatch, `the SYN at ext comes from the egress IP:\n${syn}`);
        const portAtExt = Number(synMatch[1]);

        const tcpStart = await eventually('the TCP start line', async () =>
          readAudit(auditPath).find((l) => l.event === 'start' && l.protocol === 'tcp' && l.dstPort === Number(TCP_PORT)),
        );
        assert.equal(tcpStart.clientIp, lab.addrs.cpod);
        assert.equal(tcpStart.clientNode, CLIENT_NODE_NAME);
        assert.equal(tcpStart.egressIp, lab.addrs.gwpod);
        assert.equal(tcpStart.egressPort, portAtExt, 'the egress port is the source port the destination saw');
        assert.equal(tcpStart.dstIp, lab.addrs.ext);
        assert.equal(typeof tcpStart.clientPort, 'number');
        assert.ok(Math.abs(Date.parse(String(tcpStart.time)) - Date.now()) < 60_000, `a current time: ${String(tcpStart.time)}`);

        // UDP: one exchange, then (after the entry expired) a second datagram from the same port,
        // whose lookup removes the expired entry: the kernel reports its end.
        const udp = (text: string): Promise<{ code: number; stdout: string }> =>
          lab.exec(lab.names.cpod, [process.execPath, '-e', UDP_CLIENT, lab.addrs.ext, String(UDP_PORT), String(UDP_CLIENT_PORT), text], { allowFail: true });
        const first = await udp('first datagram');
        assert.equal(first.code, 0, 'the UDP echo came back through the gateway');
        assert.equal(first.stdout.trim(), 'first datagram');
        const udpEnd = await eventually(
          'the UDP end line',
          async () => {
            const end = readAudit(auditPath).find((l) => l.event === 'end' && l.protocol === 'udp' && l.clientPort === UDP_CLIENT_PORT);
            if (end) return end;
            await new Promise((r) => setTimeout(r, 1_200));
            await udp('nudge'); // a new entry on the same tuple; the expired one goes, with a DESTROY event
            return undefined;
          },
          20_000,
          0,
        );
        const udpStart = readAudit(auditPath).find((l) => l.event === 'start' && l.protocol === 'udp' && l.clientPort === UDP_CLIENT_PORT);
        assert.ok(udpStart, 'the UDP connection has a start line too');
        for (const line of [udpStart, udpEnd]) {
          assert.equal(line.clientIp, lab.addrs.cpod);
          assert.equal(line.clientNode, CLIENT_NODE_NAME);
          assert.equal(line.egressIp, lab.addrs.gwpod);
          assert.equal(typeof line.egressPort, 'number');
          assert.equal(line.dstIp, lab.addrs.ext);
          assert.equal(line.dstPort, UDP_PORT);
        }
        assert.equal(udpEnd.ctId, udpStart.ctId, 'start and end name the same kernel connection');
        assert.equal(udpEnd.packetsOut, 1, 'one datagram out');
        assert.equal(udpEnd.packetsIn, 1, 'one datagram back');
        // 14 bytes of text + 8 UDP + 20 IPv4 header.
        assert.equal(udpEnd.bytesOut, 42);
        assert.equal(udpEnd.bytesIn, 42);
        assert.equal(typeof udpEnd.durationMs, 'number');
        assert.ok(Date.parse(String(udpEnd.time)) >= Date.parse(String(udpEnd.start)), 'ends after it starts');

        const metrics = await gw.health('/metrics');
        assert.ok(metrics, 'metrics answered');
        assert.ok(metricValue(metrics.body, 'egress_gateway_snat_connections_started_total', { protocol: 'tcp' }) >= 1);
        assert.ok(metricValue(metrics.body, 'egress_gateway_snat_connections_ended_total', { protocol: 'udp' }) >= 1);
        assert.ok(metricValue(metrics.body, 'egress_gateway_audit_log_lines_total', { event: 'end' }) >= 1);
        assert.equal(metricValue(metrics.body, 'egress_gateway_conntrack_malformed_messages_total'), 0);
        assert.equal(gw.daemon?.exitCode, null, 'the daemon is still running');
      } finally {
        await gw.close();
        t.diagnostic(`audit log:\n${readAudit(auditPath).map((l) => JSON.stringify(l)).join('\n')}`);
        rmSync(dir, { recursive: true, force: true });
      }
    }));
});
