/**
 * `make demo`: the seed blog's demonstration, on one machine. A small cluster is built in network
 * namespaces (test/lab/lab.ts), a test Felix plays calico-node's PolicySync server, and the gateway
 * pod runs `init` and `start` through init/init-gateway.sh and init/start-gateway.sh with the
 * environment a pod gets. Then, narrated step by step:
 *
 *   1. the client pod, not steered: the external host sees node1's address (natOutgoing);
 *   2. the client pod, steered: the external host sees the egress IP;
 *   3. /readiness and /metrics;
 *   4. the gateway's kernel state;
 *   5. the drain on SIGTERM;
 *
 * then Calico Open Source, where no Felix steers pods or feeds gateways, in a second cluster whose
 * client node carries OSS Felix's rules: the Kubernetes API stand-in, `egress-gateway agent` on both
 * nodes, and the same gateway fed by the agent's route feed:
 *
 *   7. the agents and the gateway start; the gateway's return path comes from the agent's feed;
 *   8. the client pod, not annotated: node1's address;
 *   9. its namespace annotated through the API: the egress IP, and what the agent programmed;
 *  10. the annotation removed: node1's address again;
 *
 * and everything is torn down, also on Ctrl-C. Every step is checked: the program exits 1 when any
 * check failed, so the demo doubles as an end-to-end test (test/kernel/demo.test.ts runs it).
 *
 *   node dist/demo/run.js          (as root; DEMO_DATAPLANE=nftables for the nftables variant,
 *                                   DEMO_PART=enterprise or oss for one half)
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { packageRoot } from '../src/package-root';
import { clientBlockRoute, eventually, gatewayBlockRoute, httpTool, metricValue } from '../test/lab/gateway';
import { collectLines, createLab, waitForOutput, type Capture, type Lab } from '../test/lab/lab';
import { API_PORT, createOssCluster, NAMESPACE_SELECTOR, QUICK_START_ANNOTATIONS, SELECTOR, untilAgent, type OssCluster } from '../test/lab/oss-cluster';
import { TestFelix } from '../test/lab/test-felix';

const PORT = '7777';
const HEALTH_PORT = '8080';
/** Felix's per-pod policy table on the client node (the lab's table 250). */
const POLICY_TABLE = '250';
/** How long readiness says 503 before the daemon stops; short, so the demo does not wait long. */
const DRAIN_DELAY = '2s';

type Dataplane = 'iptables' | 'nftables';

/** Output: headings, narration, verbatim command output, and checks that decide the exit status. */
class Report {
  private passed = 0;
  private muted = false;
  readonly failures: string[] = [];

  /** After Ctrl-C: the steps still running see their processes go and would only print noise. */
  mute(): void {
    this.muted = true;
  }

  private write(text: string): void {
    if (!this.muted) process.stdout.write(text);
  }

  heading(text: string): void {
    this.write(`\n=== ${text} ${'='.repeat(Math.max(3, 74 - text.length))}\n`);
  }

  say(...lines: string[]): void {
    for (const line of lines) this.write(`${line}\n`);
  }

  /** Command output, indented so it stands apart from the narration. */
  block(title: string, text: string | undefined): void {
    this.write(`  $ ${title}\n`);
    // undefined: a command that prints nothing when it works.
    if (text === undefined) return;
    const lines = text.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
    if (lines.length === 0) this.write('    (nothing)\n');
    for (const line of lines) this.write(`    ${line}\n`);
  }

  check(ok: boolean, what: string, detail = ''): boolean {
    if (ok) this.passed++;
    else this.failures.push(what);
    this.write(`  [${ok ? 'ok' : 'FAIL'}] ${what}${!ok && detail ? `\n${indent(detail, '         ')}` : ''}\n`);
    return ok;
  }

  summary(): string {
    const total = this.passed + this.failures.length;
    return this.failures.length === 0
      ? `demo: all ${total} checks passed`
      : `demo: ${this.failures.length} of ${total} checks FAILED:\n${this.failures.map((f) => `  - ${f}`).join('\n')}`;
  }
}

function indent(text: string, by: string): string {
  return text.split('\n').map((l) => `${by}${l}`).join('\n');
}

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** What the demo holds that teardown must release. Filled as the demo goes. */
interface Held {
  lab?: Lab;
  felix?: TestFelix;
  tempDir?: string;
  daemon?: ChildProcess;
  /** The Calico OSS half: its own lab and cluster (API stand-in, agents, gateway). */
  ossLab?: Lab;
  oss?: OssCluster;
  /** Namespaces made, for the teardown's line. */
  namespaces: number;
}

async function release(held: Held): Promise<void> {
  const { lab, felix, tempDir, ossLab, oss } = held;
  held.lab = undefined;
  held.felix = undefined;
  held.tempDir = undefined;
  held.daemon = undefined;
  held.ossLab = undefined;
  held.oss = undefined;
  // The lab stops every process it started (the daemon too) before it deletes the namespaces.
  if (lab) await lab.teardown();
  if (felix) await felix.stop();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  if (oss) await oss.close();
  if (ossLab) await ossLab.teardown();
}

/** One line of every JSON log line (what pino prints): "event: msg", or the line as it is. */
function logSummary(lines: readonly string[]): string {
  return lines
    .map((line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; event?: string };
        return `${entry.event ?? '-'}: ${entry.msg ?? ''}`;
      } catch {
        return line;
      }
    })
    .join('\n');
}

/** One connection from the client pod while ext captures; returns the capture's lines and whether the echo came back. */
async function connectAndCapture(lab: Lab, capture: Capture, text: string): Promise<{ ok: boolean; lines: string[]; why: string }> {
  const res = await lab.exec(lab.names.cpod, lab.tcpTool('connect', lab.addrs.ext, PORT, text, '3000'), { allowFail: true });
  const echoed = res.code === 0 && res.stdout === `${text}\n`;
  // The SYN-ACK follows the SYN; wait for it (briefly) so both lines are shown when they exist.
  await capture.waitFor(/Flags \[S\.\]/, 2000).catch(() => undefined);
  const out = await capture.stop();
  return { ok: echoed, lines: out.split('\n').filter((l) => l.trim() !== ''), why: res.stderr.trim() || res.stdout.trim() };
}

/** The SYN (first line with Flags [S]) and the SYN-ACK, as tcpdump printed them. */
function handshake(lines: readonly string[]): { syn?: string; synAck?: string } {
  return { syn: lines.find((l) => /Flags \[S\],/.test(l)), synAck: lines.find((l) => /Flags \[S\.\],/.test(l)) };
}

function srcOf(line: string | undefined): string | undefined {
  return line ? /IP (\d+\.\d+\.\d+\.\d+)\.\d+ >/.exec(line)?.[1] : undefined;
}

async function runEnterprise(report: Report, held: Held, dataplane: Dataplane): Promise<void> {
  const root = packageRoot();
  // The init scripts start bin/egress-gateway with `#!/usr/bin/env node`: make sure this node is found.
  const path = `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`;

  report.heading('0. A cluster in network namespaces');
  const lab = await createLab();
  held.lab = lab;
  held.namespaces += Object.keys(lab.names).length;
  const { names: n, addrs: a } = lab;
  report.say(
    '  fabric: one bridge, 198.51.100.0/24: the nodes\' network and "the outside"',
    `    node1 ${a.node1}   runs the client pod  cpod  ${a.cpod}`,
    `    node2 ${a.node2}   runs the gateway pod gwpod ${a.gwpod}  (EGRESS_POD_IP, the egress IP)`,
    `    ext   ${a.ext}   an external server on port ${PORT}, and tcpdump: what a firewall would see`,
    `  node1 plays Felix's part for egress: device egress.calico (VXLAN ${lab.vxlan.vni}, UDP ${lab.vxlan.port}),`,
    `  table ${POLICY_TABLE} (default via the gateway over egress.calico), the gateway's MAC and FDB entry.`,
    `  Namespaces: ${Object.values(n).join(' ')}`,
  );

  // Felix adds the policy rule only once the pod is annotated; the lab added it, so take it away.
  const rule = ['from', a.cpod, 'iif', 'cali-c', 'lookup', POLICY_TABLE];
  await lab.exec(n.node1, ['ip', 'rule', 'del', ...rule]);
  // Calico's natOutgoing for the pod pool: pod traffic leaving the cluster takes the node's address.
  await lab.exec(n.node1, ['iptables', '-w', '-t', 'nat', '-A', 'POSTROUTING', '-s', '100.64.0.0/16', '!', '-d', '100.64.0.0/16', '-o', 'eth0', '-j', 'MASQUERADE']);
  report.say('  node1 masquerades pod traffic that leaves the cluster (an IP pool with natOutgoing: true).');

  const server = lab.spawn(n.ext, lab.tcpTool('serve', PORT));
  const serverLines: string[] = [];
  await waitForOutput(server, /listening/);
  collectLines(server, serverLines);
  const web = lab.spawn(n.ext, httpTool('serve', '8081', '200'));
  await waitForOutput(web, /listening/);

  report.heading('1. The gateway pod starts: init container, then the daemon');
  report.say(
    '  Felix (here a test Felix on a Unix socket) tells the gateway, over PolicySync, which pod blocks',
    '  live where: the client block is on node1. It is what the daemon programs the way back from.',
  );
  held.tempDir = mkdtempSync(join(tmpdir(), 'egw-demo-'));
  const socketPath = join(held.tempDir, 'socket');
  held.felix = await TestFelix.start(socketPath, { snapshot: { routes: [gatewayBlockRoute(lab), clientBlockRoute(lab)] } });
  report.block('Felix\'s snapshot (RouteUpdate)', `${lab.clientBlock} REMOTE_WORKLOAD VXLAN on node1 (${a.node1})\n100.64.2.0/26 LOCAL_WORKLOAD on node2 (the gateway's own block: not programmed)`);

  const initEnv = { PATH: path, EGRESS_POD_IP: a.gwpod, DATAPLANE: dataplane };
  report.block(`EGRESS_POD_IP=${a.gwpod} DATAPLANE=${dataplane} init/init-gateway.sh`, undefined);
  const init = await lab.exec(n.gwpod, ['/bin/sh', join(root, 'init', 'init-gateway.sh')], { env: initEnv, allowFail: true, timeoutMs: 60_000 });
  const initLines = (init.stdout + init.stderr).split('\n').filter((l) => l.trim() !== '');
  report.say('  init\'s log, one line per step (event: message):', indent(logSummary(initLines), '    '));
  if (!report.check(init.code === 0, 'init exits 0', `exit ${init.code}`)) throw new Error('init failed; nothing else can work');
  const backend = initLines
    .map((l) => /"event":"init_done".*"backend":"([^"]+)"/.exec(l)?.[1] ?? /"backend":"([^"]+)".*"event":"init_done"/.exec(l)?.[1])
    .find((b) => b !== undefined);

  // The env of the seed's Deployment; only the socket path differs (the CSI volume is not here).
  const startEnv: Record<string, string> = {
    PATH: path,
    EGRESS_POD_IP: a.gwpod,
    DAEMON_SOCKET_PATH: socketPath,
    HEALTH_PORT,
    ICMP_PROBE_IPS: a.ext,
    ICMP_PROBE_INTERVAL: '5s',
    ICMP_PROBE_TIMEOUT: '15s',
    HTTP_PROBE_URLS: `http://${a.ext}:8081/`,
    HTTP_PROBE_INTERVAL: '10s',
    HTTP_PROBE_TIMEOUT: '30s',
    DRAIN_DELAY,
    // Its own status socket: the default under /tmp is shared with any other daemon on the machine.
    STATUS_SOCKET: join(held.tempDir, 'status.sock'),
  };
  report.block(
    `${Object.entries(startEnv).filter(([k]) => k !== 'PATH').map(([k, v]) => `${k}=${v}`).join(' ')} init/start-gateway.sh &`,
    undefined,
  );
  const daemonLogs: string[] = [];
  const daemon = lab.spawn(n.gwpod, ['/bin/sh', join(root, 'init', 'start-gateway.sh')], { env: startEnv });
  held.daemon = daemon;
  collectLines(daemon, daemonLogs);
  const daemonExit = new Promise<number | null>((resolve) => daemon.once('close', (code) => resolve(code)));

  const health = async (p: string): Promise<{ status: number; body: string } | undefined> => {
    const res = await lab.exec(n.gwpod, httpTool('get', `http://${a.gwpod}:${HEALTH_PORT}${p}`, '2000'), { allowFail: true });
    if (res.code !== 0) return undefined;
    const nl = res.stdout.indexOf('\n');
    return { status: Number(res.stdout.slice(0, nl)), body: res.stdout.slice(nl + 1) };
  };
  const ready = await eventually('readiness 200', async () => ((await health('/readiness'))?.status === 200 ? true : undefined), 20_000).catch(
    (err: unknown) => String(err),
  );
  report.say('  the daemon\'s log until it is ready:', indent(logSummary(daemonLogs.filter((l) => /"event":"(starting|readiness_changed|reconciled)"/.test(l)).slice(0, 6)), '    '));
  if (!report.check(ready === true, 'the daemon reports ready', `${String(ready)}\ndaemon log:\n${daemonLogs.join('\n')}`)) {
    throw new Error('the daemon never became ready');
  }

  report.heading('2. The client pod, NOT steered to the gateway');
  report.say(
    `  cpod connects to ${a.ext}:${PORT}. No policy rule matches it on node1, so its packets take the node's`,
    '  default route and node1 masquerades them: the external server sees node1\'s address, as in the',
    '  blog\'s first capture (its pods came from an IP pool with natOutgoing).',
  );
  report.block(`ip -n node1 rule show   (no rule for ${a.cpod})`, (await lab.exec(n.node1, ['ip', 'rule', 'show'])).stdout);
  let capture = await lab.capture(n.ext, 'eth0', ['tcp', 'port', PORT]);
  serverLines.length = 0;
  const plain = await connectAndCapture(lab, capture, 'hello, not steered');
  const plainShake = handshake(plain.lines);
  report.block(`tcpdump -ni eth0 tcp port ${PORT}   (in ext)`, [plainShake.syn ?? '(no SYN seen)', plainShake.synAck ?? ''].join('\n'));
  report.check(plain.ok, 'the connection works (the echo came back)', plain.why);
  report.check(srcOf(plainShake.syn) === a.node1, `the external host sees node1's address ${a.node1}`, plain.lines.join('\n'));
  report.check(
    !plain.lines.some((l) => l.includes(`${a.cpod}.`) || l.includes(`${a.gwpod}.`)),
    'neither the pod address nor the egress IP appears on the wire',
    plain.lines.join('\n'),
  );

  report.heading('3. The client pod, steered: annotated, Felix adds its policy rule');
  report.say(
    '  In a cluster, annotating the pod (egress.projectcalico.org/selector) makes Felix on node1 add a',
    `  rule that sends the pod's traffic to table ${POLICY_TABLE}: default via the gateway over egress.calico (VXLAN).`,
  );
  await lab.exec(n.node1, ['ip', 'rule', 'add', ...rule]);
  report.block(`ip -n node1 rule add ${rule.join(' ')}`, undefined);
  report.block(`ip -n node1 route show table ${POLICY_TABLE}`, (await lab.exec(n.node1, ['ip', 'route', 'show', 'table', POLICY_TABLE])).stdout);
  // What the gateway pod receives: the client's packet, whole, inside VXLAN from node1.
  const tunnel = await lab.capture(n.gwpod, 'eth0', ['-T', 'vxlan', 'udp', 'port', String(lab.vxlan.port)]);
  capture = await lab.capture(n.ext, 'eth0', ['tcp', 'port', PORT]);
  serverLines.length = 0;
  const steered = await connectAndCapture(lab, capture, 'hello, steered');
  await tunnel.waitFor(/Flags \[S\]/, 2000).catch(() => undefined);
  const tunnelLines = (await tunnel.stop()).split('\n').filter((l) => l.trim() !== '');
  // tcpdump prints two lines per VXLAN packet: the outer header, then the inner packet.
  const innerAt = tunnelLines.findIndex((l) => /Flags \[S\],/.test(l));
  const tunnelSyn = innerAt > 0 ? `${tunnelLines[innerAt - 1] ?? ''}\n${tunnelLines[innerAt] ?? ''}` : undefined;
  report.say('', '  On the way in, the gateway pod\'s eth0 receives the client\'s packet inside VXLAN from node1:');
  report.block(`tcpdump -ni eth0 -T vxlan udp port ${lab.vxlan.port}   (in gwpod)`, tunnelSyn ?? '(no VXLAN packet seen)');
  const steeredShake = handshake(steered.lines);
  report.say('', '  The gateway decapsulates it on vxlan0, forwards it out of eth0 and SNATs it to its pod IP:');
  report.block(`tcpdump -ni eth0 tcp port ${PORT}   (in ext)`, [steeredShake.syn ?? '(no SYN seen)', steeredShake.synAck ?? ''].join('\n'));
  report.check(
    tunnelSyn !== undefined && tunnelSyn.includes(`${a.node1}.`) && tunnelSyn.includes(`vni ${lab.vxlan.vni}`) && tunnelSyn.includes(`${a.cpod}.`),
    `the gateway receives ${a.cpod}'s SYN in VXLAN ${lab.vxlan.vni} from ${a.node1}`,
    tunnelLines.join('\n'),
  );
  report.check(steered.ok, 'the connection works: the reply found its way back through the gateway', steered.why);
  report.check(srcOf(steeredShake.syn) === a.gwpod, `the external host sees the egress IP ${a.gwpod}`, steered.lines.join('\n'));
  report.check(
    !steered.lines.some((l) => l.includes(`${a.cpod}.`) || l.includes(`${a.node1}.`)),
    'neither the pod address nor node1\'s address appears on the wire',
    steered.lines.join('\n'),
  );
  report.check(
    serverLines.some((l) => l.startsWith(`peer ${a.gwpod} `)),
    `the server's socket reports the peer ${a.gwpod}`,
    serverLines.join('\n'),
  );
  report.say(
    '  The reply went to the egress IP; the gateway undid the SNAT (conntrack) and routed it to the',
    `  client block ${lab.clientBlock} via node1 over vxlan0: the return path the daemon programmed from Felix's route.`,
  );

  report.heading('4. Readiness and metrics');
  report.say(
    '  Client nodes send traffic only to a gateway whose /readiness says 200, and the kubelet uses it',
    '  too. Every check must hold: the PolicySync stream in sync, the last kernel reconcile, and the',
    '  ICMP and HTTP probes of the upstream (here ext) when configured.',
  );
  const readiness = await health('/readiness');
  let pretty = readiness?.body ?? '';
  try {
    pretty = JSON.stringify(JSON.parse(pretty), null, 2);
  } catch {
    /* shown as it came */
  }
  report.block(`GET http://${a.gwpod}:${HEALTH_PORT}/readiness   → ${readiness?.status ?? 'no answer'}`, pretty);
  report.check(readiness?.status === 200, '/readiness answers 200');
  let checks: Record<string, { ok?: boolean }> = {};
  try {
    checks = (JSON.parse(readiness?.body ?? '{}') as { checks?: Record<string, { ok?: boolean }> }).checks ?? {};
  } catch {
    /* checked below */
  }
  report.check(
    ['policysync', 'reconcile', 'icmp', 'http'].every((c) => checks[c]?.ok === true),
    'the policysync, reconcile, icmp and http checks all hold',
    readiness?.body ?? '',
  );
  const metrics = await health('/metrics');
  const wanted = [
    'egress_gateway_ready ',
    'egress_gateway_policysync_state{state="in_sync"}',
    'egress_gateway_policysync_messages_total',
    'egress_gateway_programmed_entries',
    'egress_gateway_probe_up',
    'egress_gateway_reconcile_errors_total',
  ];
  const metricLines = (metrics?.body ?? '').split('\n').filter((l) => wanted.some((w) => l.startsWith(w)));
  report.block(`GET http://${a.gwpod}:${HEALTH_PORT}/metrics   (${metricLines.length} of its ${(metrics?.body ?? '').split('\n').length} lines)`, metricLines.join('\n'));
  const body = metrics?.body ?? '';
  report.check(
    metricValue(body, 'egress_gateway_ready') === 1 &&
      metricValue(body, 'egress_gateway_programmed_entries', { kind: 'route' }) === 1 &&
      metricValue(body, 'egress_gateway_programmed_entries', { kind: 'fdb' }) === 1,
    'metrics: ready 1, one route and one FDB entry programmed',
    metricLines.join('\n'),
  );

  report.heading('5. What the gateway holds in the kernel');
  report.say(
    '  All of it lives in the gateway pod\'s own network namespace, and the namespaces go at the end of',
    '  the demo, so here it is. Routes carry the project\'s protocol number 69; neighbour and FDB entries',
    '  on vxlan0 are permanent; SNAT and the MSS clamp live in the project\'s own chains or table.',
  );
  const gw = (argv: string[]): Promise<string> => lab.exec(n.gwpod, argv, { allowFail: true }).then((r) => r.stdout + r.stderr);
  report.block('ip -d link show vxlan0', await gw(['ip', '-d', 'link', 'show', 'vxlan0']));
  const routes = await gw(['ip', 'route', 'show', 'proto', '69']);
  report.block('ip route show proto 69', routes);
  const neigh = await gw(['ip', 'neigh', 'show', 'dev', 'vxlan0']);
  report.block('ip neigh show dev vxlan0', neigh);
  const fdb = await gw(['bridge', 'fdb', 'show', 'dev', 'vxlan0']);
  report.block('bridge fdb show dev vxlan0', fdb);
  report.check(
    // `show proto 69` leaves the protocol out of what it prints: it is the filter.
    new RegExp(`^${escapeRe(lab.clientBlock)} via ${escapeRe(a.node1)} dev vxlan0 onlink`, 'm').test(routes),
    `return route: ${lab.clientBlock} via ${a.node1} dev vxlan0 onlink, proto 69`,
    routes,
  );
  report.check(
    neigh.includes(`${a.node1} lladdr ${lab.vxlan.clientVtepMac} PERMANENT`) &&
      new RegExp(`^${escapeRe(lab.vxlan.clientVtepMac)} dst ${escapeRe(a.node1)} self permanent`, 'm').test(fdb),
    `node1's VTEP ${lab.vxlan.clientVtepMac}: permanent neighbour and FDB entry`,
    neigh + fdb,
  );
  let ruleset: string;
  if (dataplane === 'nftables') {
    ruleset = await gw(['nft', 'list', 'table', 'inet', 'egress_gateway']);
    report.block('nft list table inet egress_gateway', ruleset);
  } else {
    const saver = backend === 'iptables-legacy' ? 'iptables-legacy-save' : 'iptables-nft-save';
    const saved = await gw([saver]);
    // Only the lines that name the project's chains, with the table each is in.
    let table = '';
    const shown: string[] = [];
    for (const line of saved.split('\n')) {
      if (line.startsWith('*')) table = line;
      else if (line.includes('EGW-')) {
        if (table) shown.push(table);
        table = '';
        shown.push(line);
      }
    }
    ruleset = shown.join('\n');
    report.block(`${saver} | grep EGW-   (init chose ${backend ?? 'an unknown backend'})`, ruleset);
  }
  report.check(
    new RegExp(`snat (ip )?to ${escapeRe(a.gwpod)} fully-random`).test(ruleset) || ruleset.includes(`-j SNAT --to-source ${a.gwpod} --random-fully`),
    `SNAT to ${a.gwpod} with fully random ports`,
    ruleset,
  );
  report.check(/maxseg|TCPMSS/.test(ruleset), 'MSS clamp on forwarded SYNs', ruleset);

  report.heading('6. The drain (SIGTERM, as the kubelet sends it)');
  report.say(
    `  Readiness turns 503 at once, so client nodes stop choosing this gateway; forwarding goes on for`,
    `  DRAIN_DELAY (${DRAIN_DELAY} here, 10s by default) while they notice; then the daemon stops and exits 0.`,
  );
  daemon.kill('SIGTERM');
  const draining = await eventually('readiness 503', async () => {
    const r = await health('/readiness');
    return r?.status === 503 ? r : undefined;
  }, 5000).catch(() => undefined);
  report.block(`GET http://${a.gwpod}:${HEALTH_PORT}/readiness   → ${draining?.status ?? 'no 503 seen'}`, draining ? failingSummary(draining.body) : '');
  report.check(draining !== undefined && failingSummary(draining.body).includes('drain'), 'readiness 503 naming the drain');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([daemonExit, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 15_000)))]);
  clearTimeout(timer);
  report.check(code === 0, 'the daemon exits 0 after the drain delay', `exit: ${String(code)}\n${daemonLogs.slice(-5).join('\n')}`);
  held.daemon = undefined;
}

/**
 * The Calico Open Source half: a second cluster whose client node carries OSS Felix's rules and no
 * egress support; the agents (the real `egress-gateway agent`) against the Kubernetes API stand-in;
 * the same gateway, fed by the node2 agent's route feed.
 */
async function runOss(report: Report, held: Held, dataplane: Dataplane): Promise<void> {
  report.heading('7. Calico Open Source: the node agent plays Felix\'s two missing parts');
  report.say(
    '  Calico OSS has no egress gateway: its Felix neither steers annotated pods nor tells a gateway',
    '  where its clients live. `egress-gateway agent`, one per node (a DaemonSet on the host network),',
    '  does both. A second cluster: node1 now carries OSS Felix\'s rules (its NAT-outgoing masquerade',
    '  jumped to first in nat POSTROUTING, RPF drops, FORWARD policy drop) and nothing for egress.',
  );
  const lab = await createLab({ felix: 'nft', gateways: 2 });
  held.ossLab = lab;
  held.namespaces += Object.keys(lab.names).length;
  const { names: n, addrs: a } = lab;
  report.say(
    '  No real Kubernetes API server can run here: a stand-in with real list/watch semantics serves the',
    `  cluster's objects over HTTP at ${a.ext}:${API_PORT} (test/lab/kube-api/); the agents use the real client library.`,
  );
  const cluster = await createOssCluster(lab, { dataplane });
  held.oss = cluster;
  report.say(
    `    namespace shop:   client ${a.cpod} on node1 (the pod we steer)`,
    `    namespace egress: gw-1 ${a.gwpod} on node2, labels egress-gateway.io/gateway=true, egress-code=red`,
    '    nodes, an IP pool 100.64.0.0/16 (natOutgoing), IPAM blocks 100.64.1.0/26 (node1) and 100.64.2.0/26 (node2)',
  );
  const server = lab.spawn(n.ext, lab.tcpTool('serve', PORT));
  await waitForOutput(server, /listening/);

  const agentLine = (node: 'node1' | 'node2'): string =>
    `${Object.entries(cluster.agentEnv(node)).filter(([k]) => k !== 'KUBECONFIG').map(([k, v]) => `${k}=${v}`).join(' ')} egress-gateway agent &   (in ${node}'s host network)`;
  report.block(agentLine('node1'), undefined);
  cluster.startAgent('node1');
  report.block(agentLine('node2'), undefined);
  cluster.startAgent('node2');
  report.say(
    '  The gateway pod is the same as before: init, then start. In OSS mode the chart mounts the node2',
    '  agent\'s socket folder at /var/run/nodeagent, so its PolicySync stream is the agent\'s route feed.',
  );
  report.block(`EGRESS_POD_IP=${a.gwpod} DATAPLANE=${dataplane} egress-gateway init   (done)`, undefined);
  const gw = cluster.startGateway('gw-1');
  report.block(`EGRESS_POD_IP=${a.gwpod} DAEMON_SOCKET_PATH=${join(cluster.dir, 'node2', 'socket')} egress-gateway start &`, undefined);
  const ready = await eventually('the gateway ready', async () => ((await cluster.gatewayReadiness('gw-1')) === 200 ? true : undefined), 30_000).catch((err: unknown) => String(err));
  if (!report.check(ready === true, 'the gateway reports ready on the agent\'s route feed', `${String(ready)}\n${gw.logs.slice(-10).join('\n')}`)) throw new Error('the gateway never became ready');
  const feed = await untilAgent(cluster, 'node2', 'the node2 agent feeds its gateway', (st) => st.routeFeed.inSync).catch(() => undefined);
  report.check(feed !== undefined, `the node2 agent serves the route feed: ${feed?.routeFeed.routes ?? 0} routes, in sync`);
  const routes = (await lab.exec(n.gwpod, ['ip', 'route', 'show', 'proto', '69'], { allowFail: true })).stdout;
  report.block('ip route show proto 69   (in gw-1: its return path, from the agent\'s feed)', routes);
  report.check(new RegExp(`^${escapeRe(lab.clientBlock)} via ${escapeRe(a.node1)} dev vxlan0 onlink`, 'm').test(routes), `return route ${lab.clientBlock} via node1 ${a.node1} over vxlan0`, routes);

  const attempt = async (heading: string): Promise<{ src?: string; ok: boolean; lines: string[] }> => {
    const capture = await lab.capture(n.ext, 'eth0', ['tcp', 'port', PORT]);
    const res = await connectAndCapture(lab, capture, heading);
    const shake = handshake(res.lines);
    report.block(`tcpdump -ni eth0 tcp port ${PORT}   (in ext)`, [shake.syn ?? '(no SYN seen)', shake.synAck ?? ''].join('\n'));
    return { ...(srcOf(shake.syn) !== undefined ? { src: srcOf(shake.syn) as string } : {}), ok: res.ok, lines: res.lines };
  };

  report.heading('8. The client pod, not annotated');
  report.say(`  cpod connects to ${a.ext}:${PORT}. No annotation: no rule; Felix masquerades it to node1's address.`);
  const before = await attempt('hello, not annotated');
  report.check(before.ok && before.src === a.node1, `the external host sees node1's address ${a.node1}`, before.lines.join('\n'));

  report.heading('9. kubectl annotate namespace shop: the egress IP');
  const annotate = `kubectl annotate namespace shop ${SELECTOR}="${QUICK_START_ANNOTATIONS[SELECTOR]}" \\\n      ${NAMESPACE_SELECTOR}="${QUICK_START_ANNOTATIONS[NAMESPACE_SELECTOR]}"`;
  report.block(`${annotate}   (a merge PATCH to the stand-in)`, undefined);
  await cluster.kube('PATCH', '/api/v1/namespaces/shop', { metadata: { annotations: QUICK_START_ANNOTATIONS } });
  const steered = await untilAgent(cluster, 'node1', 'the pod steered', (st) => st.clients.some((c) => c.pod === 'shop/client' && c.gateways.length === 1)).catch(() => undefined);
  // The agent's status shows its plan at once; the kernel holds it once the pass has applied it.
  const podRule = new RegExp(`from ${escapeRe(a.cpod)} lookup \\d+ proto 69`);
  const programmed = await untilRule(lab, n.node1, podRule, true);
  report.check(steered !== undefined && programmed, 'the node1 agent saw the annotation, matched gw-1 and programmed node1');
  report.say('  What the node1 agent wrote, all with protocol 69 (docs/agent.md):');
  report.block('ip -n node1 rule show', (await lab.exec(n.node1, ['ip', 'rule', 'show'])).stdout);
  report.block('ip -n node1 route show table 1000', (await lab.exec(n.node1, ['ip', 'route', 'show', 'table', '1000'])).stdout);
  const status = await lab.exec(n.node1, [...lab.gatewayCommand, 'status'], { env: { STATUS_SOCKET: join(cluster.dir, 'node1-status.sock') }, allowFail: true });
  const pods = status.stdout.split('\n');
  const from = pods.findIndex((l) => l.startsWith('STEERED PODS'));
  report.block('egress-gateway status   (the node1 agent; its steered pods)', pods.slice(from, from + 4).join('\n'));
  const after = await attempt('hello, annotated');
  report.check(after.ok, 'the connection works: the reply came back through the gateway (the feed\'s return route)');
  report.check(after.src === a.gwpod, `the external host sees the egress IP ${a.gwpod}`, after.lines.join('\n'));
  report.check(!after.lines.some((l) => l.includes(`${a.cpod}.`) || l.includes(`${a.node1}.`)), 'neither the pod address nor node1\'s address appears on the wire', after.lines.join('\n'));

  report.heading('10. The annotation removed: node1\'s address again');
  report.block(`kubectl annotate namespace shop ${SELECTOR}- ${NAMESPACE_SELECTOR}-`, undefined);
  await cluster.kube('PATCH', '/api/v1/namespaces/shop', { metadata: { annotations: { [SELECTOR]: null, [NAMESPACE_SELECTOR]: null } } });
  const gone = await untilAgent(cluster, 'node1', 'the pod unsteered', (st) => st.clients.length === 0).catch(() => undefined);
  const unprogrammed = await untilRule(lab, n.node1, podRule, false);
  report.check(gone !== undefined && unprogrammed, 'the node1 agent removed the pod\'s steering');
  report.block('ip -n node1 rule show', (await lab.exec(n.node1, ['ip', 'rule', 'show'])).stdout);
  const last = await attempt('hello again, not annotated');
  report.check(last.ok && last.src === a.node1, `the external host sees node1's address ${a.node1} again`, last.lines.join('\n'));
}

/** Whether node1's `ip rule show` came to hold (or no longer hold) a rule like `pattern` within 10 s. */
async function untilRule(lab: Lab, ns: string, pattern: RegExp, present: boolean): Promise<boolean> {
  return eventually('node1\'s rules', async () => (pattern.test((await lab.exec(ns, ['ip', 'rule', 'show'])).stdout) === present ? true : undefined)).catch(() => false);
}

function failingSummary(body: string): string {
  try {
    const parsed = JSON.parse(body) as { ready?: boolean; failing?: string[] };
    return `ready: ${String(parsed.ready)}, failing: ${(parsed.failing ?? []).join(', ')}`;
  } catch {
    return body;
  }
}

async function main(): Promise<number> {
  const report = new Report();
  const held: Held = { namespaces: 0 };
  if (process.getuid?.() !== 0) {
    process.stderr.write('demo: needs root (network namespaces, netfilter); run it as root\n');
    return 1;
  }
  const dataplane = process.env.DEMO_DATAPLANE ?? 'iptables';
  if (dataplane !== 'iptables' && dataplane !== 'nftables') {
    process.stderr.write(`demo: DEMO_DATAPLANE=${dataplane}: must be iptables or nftables\n`);
    return 2;
  }
  const part = process.env.DEMO_PART ?? 'all';
  if (part !== 'all' && part !== 'enterprise' && part !== 'oss') {
    process.stderr.write(`demo: DEMO_PART=${part}: must be all, enterprise or oss\n`);
    return 2;
  }

  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    report.mute();
    process.stdout.write(`\ndemo: ${signal}: tearing down\n`);
    void release(held).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  process.stdout.write(`Egress gateway demo (dataplane: ${dataplane})\n`);
  const parts: Array<[string, (r: Report, h: Held, d: Dataplane) => Promise<void>]> = [];
  if (part !== 'oss') parts.push(['the Calico Enterprise part', runEnterprise]);
  if (part !== 'enterprise') parts.push(['the Calico OSS part', runOss]);
  for (const [name, run] of parts) {
    try {
      await run(report, held, dataplane);
    } catch (err) {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by the signal handler while the demo ran
      if (interrupted) return new Promise<number>(() => undefined); // the signal handler exits
      report.check(false, `${name} ran to the end: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set by the signal handler while the demo ran
  if (interrupted) return new Promise<number>(() => undefined);
  report.heading('Teardown');
  await release(held);
  report.say(`  removed ${held.namespaces} namespaces${part !== 'oss' ? ', the test Felix and its socket' : ''}${part !== 'enterprise' ? ', the API stand-in, the agents and their sockets' : ''}`);
  report.say('', report.summary());
  return report.failures.length === 0 ? 0 : 1;
}

void main().then((code) => {
  process.exitCode = code;
});
