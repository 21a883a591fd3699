/**
 * The lab cluster (a fabric, nodes, pods and an external host) in network namespaces, for kernel tests and the demo:
 *
 *           fabric (bridge br0, 198.51.100.0/24)
 *    ┌───────────────┬──────────────────┬────────────┐
 *  node1 .11        node2 .12          ext .13
 *    │ cali-c         │ cali-g
 *  cpod 100.64.1.5  gwpod 100.64.2.7 (EGRESS_POD_IP)
 *
 * node1 plays Felix's part for the client pod (egress.calico, policy rule, table 250, neighbour
 * and FDB entry for the gateway). node2 has no route back to the client pods: a reply only gets
 * back over the VXLAN return path on the gateway (set by the daemon, or by setReturnPathByHand).
 *
 * Namespace names are unique per lab (`egw-<pid>-<n>-<role>`), and every lab is torn down by
 * teardown(), by withLab() whatever happens, and as a last resort when the process exits.
 *
 * IPv6 (createLab({ ipv6 })): nodes and ext also get 2001:db8:100::/64 addresses and IPv6
 * forwarding; pods get a /128 with `default via fe80::1` (the node side of the veth holds fe80::1).
 * `true`: dual-stack pods; node1 sends the client pod's IPv6 traffic into the same IPv4 VXLAN
 * device (ip -6 rule → table 250 → the gateway's IPv6 address via egress.calico, an IPv6 neighbour
 * with the gateway's MAC). `'only'`: IPv6-only pods; egress.calico runs over IPv6 (local = node1's
 * IPv6 address) and its FDB entry points at the gateway pod's IPv6 address. Addresses are added
 * with `nodad` and DAD is off in the lab's namespaces, so nothing waits for duplicate detection.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { runCommand, type CommandResult } from '../../src/kernel/exec';
import { clientVtepMac } from '../../src/model/mac';
import { cliCommandFor, cliScript } from './cli-script';

export type { CommandResult } from '../../src/kernel/exec';

export interface LabNames {
  readonly fabric: string;
  readonly node1: string;
  readonly node2: string;
  readonly ext: string;
  readonly cpod: string;
  readonly gwpod: string;
  /** An unsteered client pod on node1 (OSS labs only). */
  readonly cpod2?: string;
  /** The second gateway pod on node2 (gateways: 2 only). */
  readonly gwpod2?: string;
}

export interface LabAddrs {
  readonly node1: string;
  readonly node2: string;
  readonly ext: string;
  readonly cpod: string;
  readonly gwpod: string;
  /** Configured only when the lab has these pods (see LabNames). */
  readonly cpod2: string;
  readonly gwpod2: string;
}

/** IPv6 in the lab: off, dual-stack pods, or IPv6-only pods. */
export type LabIpv6 = false | 'dual' | 'only';

/** How OSS Felix writes its rules: iptables-legacy, iptables-nft, or its nftables mode (Calico 3.29+). */
export type FelixVariant = 'legacy' | 'nft' | 'nftables';

export interface LabOptions {
  /** true (or 'dual'): dual-stack pods; 'only': IPv6-only pods. Default: IPv4 only, as LAB.md. */
  readonly ipv6?: boolean | 'dual' | 'only';
  /**
   * node1 as an OSS Calico node whose Felix uses this iptables variant (see the header). With ipv6
   * 'dual', Felix's IPv6 rules too (ip6tables, or its `ip6 calico` table) and every pod dual-stack;
   * node1 then has no hand-made IPv6 steering (the agent's is tested). Not with ipv6 'only'.
   */
  readonly felix?: FelixVariant;
  /** Gateway pods on node2: 1 (gwpod, the default) or 2 (gwpod and gwpod2). */
  readonly gateways?: 1 | 2;
}

export interface ExecOptions {
  readonly input?: string;
  /** Resolve with a non-zero exit status instead of rejecting. */
  readonly allowFail?: boolean;
  /** Added to a minimal environment (PATH only), so the caller's variables never leak in. */
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
}

export interface Capture {
  /** Resolves with the output so far once a line matches (rejects after timeoutMs, default 5000). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Stops tcpdump (SIGINT, so it prints what it holds) and resolves with everything it printed. */
  stop(): Promise<string>;
}

export interface Lab {
  readonly names: LabNames;
  /** IPv4 addresses. With ipv6 'only', the pods have none (cpod and gwpod here are not configured). */
  readonly addrs: LabAddrs;
  readonly ipv6: LabIpv6;
  /** IPv6 addresses, configured only when ipv6 is on. */
  readonly addrs6: LabAddrs;
  /** The client pods' IPv6 block (a Calico-sized /122) and the gateway's. */
  readonly clientBlock6: string;
  readonly gatewayBlock6: string;
  /** VXLAN settings both ends use, and the MACs of the two VTEPs. */
  readonly vxlan: { readonly vni: number; readonly port: number; readonly clientVtepMac: string; readonly gatewayMac: string };
  /** The client pods' block that the return path routes over vxlan0. */
  readonly clientBlock: string;
  /** How the gateway is started: [node, the launcher's Node flags, script]; bin/egress-gateway when running from dist/. */
  readonly gatewayCommand: readonly string[];
  exec(ns: string, argv: readonly string[], opts?: ExecOptions): Promise<CommandResult>;
  /** A long-running process in `ns`, stdout/stderr piped (stdin too with `stdin: true`); killed at teardown. */
  spawn(ns: string, argv: readonly string[], opts?: { env?: Record<string, string>; stdin?: boolean }): ChildProcess;
  /** Runs `egress-gateway <args>` in a gateway pod's namespace (gwpod unless `ns`) with exactly `env`; never rejects on exit status. */
  gateway(args: readonly string[], env: Record<string, string>, ns?: string): Promise<CommandResult>;
  spawnGateway(args: readonly string[], env: Record<string, string>): ChildProcess;
  /** The iptables variant of node1's Felix-like rules; undefined when node1 plays Enterprise Felix by hand. */
  readonly felix: FelixVariant | undefined;
  /** node1's Felix-like rules as `iptables-<variant>-save` (raw, nat and filter) or `nft list table ip calico` prints them. */
  felixRules(): Promise<string>;
  /**
   * Does what Felix does every few seconds: deletes its jumps from the built-in chains and inserts
   * them again at the top, ahead of anything added since (nftables mode: writes its table anew).
   */
  reinsertFelixJumps(): Promise<void>;
  /** `tcpdump -lni iface filter...` in `ns`, resolved once tcpdump listens. */
  capture(ns: string, iface: string, filter: readonly string[]): Promise<Capture>;
  /**
   * The route, neighbour and FDB entry on a gateway pod's vxlan0 that the daemon programs later
   * (both families with IPv6); `gateway` is gwpod (the default) or gwpod2.
   */
  setReturnPathByHand(gateway?: string): Promise<void>;
  /** `node tcp-tool.js ...` argv, to pass to exec or spawn. */
  tcpTool(...args: string[]): string[];
  /**
   * One more pod on `node` (node1 or node2 of `names`) with IPv4 address `addr` (in 100.64.1.0/24 on
   * node1, 100.64.2.0/24 on node2), wired as build() wires the others; removed at teardown. For
   * tests that need pods come and go (a gateway Deployment's rolling update). Returns its namespace.
   */
  addPod(node: string, addr: string): Promise<string>;
  /**
   * What the kernel holds in `ns`, as text without counters or timestamps: links, addresses,
   * routes, both iptables variants, the nft ruleset and the IPv4 forwarding/rp_filter sysctls;
   * with IPv6 on, also global IPv6 addresses and routes, both ip6tables variants and IPv6 forwarding.
   */
  kernelState(ns: string): Promise<string>;
  teardown(): Promise<void>;
}

const ADDRS: LabAddrs = {
  node1: '198.51.100.11',
  node2: '198.51.100.12',
  ext: '198.51.100.13',
  cpod: '100.64.1.5',
  gwpod: '100.64.2.7',
  cpod2: '100.64.1.6',
  gwpod2: '100.64.2.8',
};
/** Documentation prefixes only: 2001:db8:100::/64 is the fabric, 2001:db8:64::/48 the pod networks. */
const ADDRS6: LabAddrs = {
  node1: '2001:db8:100::11',
  node2: '2001:db8:100::12',
  ext: '2001:db8:100::13',
  cpod: '2001:db8:64:1::5',
  gwpod: '2001:db8:64:2::7',
  cpod2: '2001:db8:64:1::6',
  gwpod2: '2001:db8:64:2::8',
};
/** The pods' IPv6 default gateway: a link-local address on the node side of each pod's veth. */
const POD_GATEWAY6 = 'fe80::1';
const VNI = 4097;
const VXLAN_PORT = 4790;
/** Felix's name for the client pod's node, and its VTEP MAC as Felix derives it (0x66 + SHA-1 of the name). */
export const CLIENT_NODE_NAME = 'node1';
const CLIENT_VTEP_MAC = clientVtepMac(CLIENT_NODE_NAME);
/** a2:2a: + 100.64.2.7, what the gateway's init gives vxlan0. */
const GATEWAY_MAC = 'a2:2a:64:40:02:07';
/** An IPv6-only gateway's vxlan0: a2:2a: + the last four bytes of 2001:db8:64:2::7 (src/model/mac.ts). */
const GATEWAY_MAC_IPV6_ONLY = 'a2:2a:00:00:00:07';
const POLICY_TABLE = '250';

let labCounter = 0;
/** Namespaces of labs not yet torn down, removed synchronously if the process exits first. */
const liveNamespaces = new Set<string>();
/** Processes started by labs and still running, killed by pid if the process exits first. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
  for (const ns of liveNamespaces) spawnSync(IP, ['netns', 'del', ns], { stdio: 'ignore' });
});

/** iproute2 by absolute path: the environment given to a command may replace PATH. */
const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p)) ?? 'ip';

function minimalEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...extra };
}

async function run(argv: readonly string[], opts: ExecOptions = {}): Promise<CommandResult> {
  const [file = '', ...args] = argv;
  const res = await runCommand(file, args, {
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    env: minimalEnv(opts.env),
    timeoutMs: opts.timeoutMs ?? 30_000,
  });
  if (res.code !== 0 && !opts.allowFail) {
    throw new Error(`lab: \`${argv.join(' ')}\` exited ${res.code}: ${res.stderr.trim() || res.stdout.trim()}`);
  }
  return res;
}

export async function createLab(options: LabOptions = {}): Promise<Lab> {
  const ipv6: LabIpv6 = options.ipv6 === true ? 'dual' : options.ipv6 === undefined ? false : options.ipv6;
  const felix = options.felix;
  if (felix && ipv6 === 'only') throw new Error('lab: the Felix-like client node has IPv4 (ipv6: dual, not only)');
  const prefix = `egw-${process.pid}-${++labCounter}-`;
  const names: LabNames = {
    fabric: `${prefix}fabric`,
    node1: `${prefix}node1`,
    node2: `${prefix}node2`,
    ext: `${prefix}ext`,
    cpod: `${prefix}cpod`,
    gwpod: `${prefix}gwpod`,
    ...(felix ? { cpod2: `${prefix}cpod2` } : {}),
    ...(options.gateways === 2 ? { gwpod2: `${prefix}gwpod2` } : {}),
  };
  const children = new Set<ChildProcess>();
  const created: string[] = [];
  let tornDown = false;

  const exec = (ns: string, argv: readonly string[], opts?: ExecOptions): Promise<CommandResult> =>
    run([IP, 'netns', 'exec', ns, ...argv], opts);
  const ip = (ns: string, ...args: string[]): Promise<CommandResult> => run([IP, '-n', ns, ...args]);
  const sysctl = (ns: string, key: string, value: string): Promise<CommandResult> => exec(ns, ['sysctl', '-qw', `${key}=${value}`]);

  const spawnIn = (ns: string, argv: readonly string[], opts: { env?: Record<string, string>; stdin?: boolean } = {}): ChildProcess => {
    if (tornDown) throw new Error('lab: spawn after teardown');
    // `ip netns exec` execs the program, so the child's pid is the program's and signals reach it.
    const child = spawn(IP, ['netns', 'exec', ns, ...argv], { env: minimalEnv(opts.env), stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    children.add(child);
    liveChildren.add(child);
    child.once('close', () => {
      children.delete(child);
      liveChildren.delete(child);
    });
    return child;
  };

  const teardown = async (): Promise<void> => {
    if (tornDown) return;
    tornDown = true;
    await Promise.all([...children].map((c) => stopChild(c, 'SIGTERM')));
    for (const ns of [...created].reverse()) {
      // Anything still running in the namespace was started through this lab; end it by pid.
      const pids = await run([IP, 'netns', 'pids', ns], { allowFail: true });
      for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      await run([IP, 'netns', 'del', ns], { allowFail: true });
      liveNamespaces.delete(ns);
    }
  };

  let extraPods = 0;
  const gatewayCommand = cliCommandFor(cliScript());
  const lab: Lab = {
    names,
    addrs: ADDRS,
    ipv6,
    addrs6: ADDRS6,
    clientBlock6: '2001:db8:64:1::/122',
    gatewayBlock6: '2001:db8:64:2::/122',
    vxlan: { vni: VNI, port: VXLAN_PORT, clientVtepMac: CLIENT_VTEP_MAC, gatewayMac: ipv6 === 'only' ? GATEWAY_MAC_IPV6_ONLY : GATEWAY_MAC },
    clientBlock: '100.64.1.0/26',
    gatewayCommand,
    exec,
    spawn: spawnIn,
    gateway: (args, env, ns = names.gwpod) => exec(ns, [...gatewayCommand, ...args], { env, allowFail: true, timeoutMs: 60_000 }),
    felix,
    felixRules: async () => {
      if (!felix) return '';
      if (felix === 'nftables') return normalize((await exec(names.node1, ['nft', 'list', 'table', 'ip', 'calico'])).stdout);
      const parts: string[] = [];
      for (const table of ['raw', 'nat', 'filter']) parts.push(normalize((await exec(names.node1, [`iptables-${felix}-save`, '-t', table])).stdout));
      return parts.join('');
    },
    reinsertFelixJumps: async () => {
      if (!felix) throw new Error('lab: reinsertFelixJumps needs a Felix-like lab');
      if (felix === 'nftables') {
        await exec(names.node1, ['nft', '-f', '-'], { input: `table ip calico\ndelete table ip calico\n${felixNft(4, LAB_POOLS)}` });
        if (ipv6) await exec(names.node1, ['nft', '-f', '-'], { input: `table ip6 calico\ndelete table ip6 calico\n${felixNft(6, LAB_POOLS6)}` });
        return;
      }
      for (const tool of ipv6 ? ['iptables', 'ip6tables'] : ['iptables']) {
        for (const [table, chain, target] of FELIX_JUMPS) {
          await exec(names.node1, [`${tool}-${felix}`, '-w', '-t', table, '-D', chain, '-j', target], { allowFail: true });
          await exec(names.node1, [`${tool}-${felix}`, '-w', '-t', table, '-I', chain, '1', '-j', target]);
        }
      }
    },
    spawnGateway: (args, env) => spawnIn(names.gwpod, [...gatewayCommand, ...args], { env }),
    capture: (ns, iface, filter) => startCapture(spawnIn(ns, ['tcpdump', '-l', '-n', '--immediate-mode', '-i', iface, ...filter])),
    tcpTool: (...args) => [process.execPath, join(__dirname, 'tcp-tool.js'), ...args],
    async addPod(node, addr) {
      const n = ++extraPods;
      const ns = `${prefix}pod${n}`;
      const veth = `cali-x${n}`;
      await run([IP, 'netns', 'add', ns]);
      created.push(ns);
      liveNamespaces.add(ns);
      await ip(ns, 'link', 'set', 'lo', 'up');
      await ip(node, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      await ip(ns, 'link', 'set', 'eth0', 'up');
      await ip(node, 'link', 'set', veth, 'up');
      await ip(ns, 'addr', 'add', `${addr}/32`, 'dev', 'eth0');
      await ip(ns, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link');
      await ip(ns, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0');
      await sysctl(node, `net.ipv4.conf.${veth}.proxy_arp`, '1');
      await ip(node, 'route', 'add', `${addr}/32`, 'dev', veth);
      return ns;
    },
    async setReturnPathByHand(gw = names.gwpod) {
      if (ipv6 !== 'only') {
        await ip(gw, 'route', 'replace', lab.clientBlock, 'via', ADDRS.node1, 'dev', 'vxlan0', 'onlink');
        await ip(gw, 'neigh', 'replace', ADDRS.node1, 'lladdr', CLIENT_VTEP_MAC, 'dev', 'vxlan0', 'nud', 'permanent');
      }
      if (ipv6) {
        await ip(gw, '-6', 'route', 'replace', lab.clientBlock6, 'via', ADDRS6.node1, 'dev', 'vxlan0', 'onlink');
        await ip(gw, '-6', 'neigh', 'replace', ADDRS6.node1, 'lladdr', CLIENT_VTEP_MAC, 'dev', 'vxlan0', 'nud', 'permanent');
      }
      // One FDB entry, in vxlan0's underlay family (IPv4 unless the pod has no IPv4 address).
      const underlayDst = ipv6 === 'only' ? ADDRS6.node1 : ADDRS.node1;
      await exec(gw, ['bridge', 'fdb', 'replace', CLIENT_VTEP_MAC, 'dev', 'vxlan0', 'dst', underlayDst, 'self', 'permanent']);
    },
    async kernelState(ns) {
      const parts: string[] = [];
      const section = async (title: string, argv: string[]): Promise<void> => {
        const res = await exec(ns, argv, { allowFail: true });
        parts.push(`## ${title}\n${normalize(res.stdout)}${res.code !== 0 ? `(exit ${res.code})\n` : ''}`);
      };
      await section('ip -d link', ['ip', '-d', 'link', 'show']);
      await section('ip addr', ['ip', '-4', 'addr', 'show']);
      // IPv4 only: IPv6 link-local routes appear asynchronously after a link comes up.
      await section('ip -4 route', ['ip', '-4', 'route', 'show', 'table', 'all']);
      await section('ip neigh (permanent)', ['ip', 'neigh', 'show', 'nud', 'permanent']);
      await section('ip rule', ['ip', 'rule', 'show']);
      await section('ip nexthop', ['ip', 'nexthop', 'show']);
      await section('iptables-legacy-save', ['iptables-legacy-save']);
      await section('iptables-nft-save', ['iptables-nft-save']);
      await section('nft list ruleset', ['nft', 'list', 'ruleset']);
      await section('sysctl', ['sysctl', '-a', '-r', '^net\\.ipv4\\.(ip_forward|conf\\..*\\.(rp_filter|forwarding|proxy_arp))$']);
      if (ipv6) {
        await section('ip -6 addr (global)', ['ip', '-6', 'addr', 'show', 'scope', 'global']);
        // Link-local and multicast routes come and go with links asynchronously; they are not ours.
        const routes6 = await exec(ns, ['ip', '-6', 'route', 'show', 'table', 'all'], { allowFail: true });
        const kept = routes6.stdout.split('\n').filter((l) => !/(^|\s)(fe80::|ff00::|multicast )/.test(l));
        parts.push(`## ip -6 route (no link-local, no multicast)\n${kept.join('\n')}`);
        await section('ip6tables-legacy-save', ['ip6tables-legacy-save']);
        await section('ip6tables-nft-save', ['ip6tables-nft-save']);
        await section('sysctl ipv6', ['sysctl', '-a', '-r', '^net\\.ipv6\\.conf\\..*\\.forwarding$']);
      }
      return parts.join('');
    },
    teardown,
  };

  try {
    for (const ns of Object.values(names) as string[]) {
      await run([IP, 'netns', 'add', ns]);
      created.push(ns);
      liveNamespaces.add(ns);
      await ip(ns, 'link', 'set', 'lo', 'up');
      // Links made from here on inherit "default": no duplicate address detection to wait for.
      if (ipv6) for (const key of ['all', 'default']) await sysctl(ns, `net.ipv6.conf.${key}.accept_dad`, '0');
    }
    await build(lab, ip, sysctl);
    if (ipv6) await buildIpv6(lab, ip, sysctl);
    if (felix) await buildFelix(lab, felix, sysctl);
  } catch (err) {
    await teardown();
    throw err;
  }
  return lab;
}

async function build(
  lab: Lab,
  ip: (ns: string, ...args: string[]) => Promise<CommandResult>,
  sysctl: (ns: string, key: string, value: string) => Promise<CommandResult>,
): Promise<void> {
  const { names: n, addrs: a } = lab;
  await ip(n.fabric, 'link', 'add', 'br0', 'type', 'bridge');
  await ip(n.fabric, 'link', 'set', 'br0', 'up');
  // br_netfilter is on in every namespace with a bridge; the fabric is a plain switch.
  for (const key of ['net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables', 'net.bridge.bridge-nf-call-arptables']) {
    await lab.exec(n.fabric, ['sysctl', '-qw', `${key}=0`], { allowFail: true });
  }
  const hosts: Array<[string, string, string]> = [
    [n.node1, a.node1, 'p-node1'],
    [n.node2, a.node2, 'p-node2'],
    [n.ext, a.ext, 'p-ext'],
  ];
  for (const [ns, addr, port] of hosts) {
    await ip(ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', port, 'netns', n.fabric);
    await ip(n.fabric, 'link', 'set', port, 'master', 'br0', 'up');
    await ip(ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
    await ip(ns, 'link', 'set', 'eth0', 'up');
  }
  // Nodes: forwarding, and a default route (proxy ARP for 169.254.1.1 only answers with one).
  for (const ns of [n.node1, n.node2]) {
    await sysctl(ns, 'net.ipv4.ip_forward', '1');
    await ip(ns, 'route', 'add', 'default', 'via', a.ext);
  }
  await ip(n.node1, 'route', 'add', '100.64.2.0/24', 'via', a.node2);
  await ip(n.ext, 'route', 'add', '100.64.2.0/24', 'via', a.node2);

  // Pods the Calico way: a /32 on eth0, default via 169.254.1.1, proxy ARP on the node side.
  const pods: Array<[string, string, string, string]> = [
    [n.node1, 'cali-c', n.cpod, a.cpod],
    [n.node2, 'cali-g', n.gwpod, a.gwpod],
  ];
  if (n.cpod2) pods.push([n.node1, 'cali-c2', n.cpod2, a.cpod2]);
  if (n.gwpod2) pods.push([n.node2, 'cali-g2', n.gwpod2, a.gwpod2]);
  for (const [node, veth, pod, addr] of pods) {
    await ip(node, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod);
    await ip(pod, 'link', 'set', 'eth0', 'up');
    await ip(node, 'link', 'set', veth, 'up');
    // IPv6-only pods get their addresses from buildIpv6 alone.
    if (lab.ipv6 === 'only') continue;
    await ip(pod, 'addr', 'add', `${addr}/32`, 'dev', 'eth0');
    await ip(pod, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link');
    await ip(pod, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0');
    await sysctl(node, `net.ipv4.conf.${veth}.proxy_arp`, '1');
    await ip(node, 'route', 'add', `${addr}/32`, 'dev', veth);
  }

  // An IPv6-only cluster's egress.calico runs over IPv6: buildIpv6 makes it. On an OSS node the
  // agent's steering makes it.
  if (lab.ipv6 === 'only' || lab.felix) return;
  // Felix's part on the client node: the client pod's traffic goes to the gateway over VXLAN.
  await ip(
    n.node1, 'link', 'add', 'egress.calico', 'address', lab.vxlan.clientVtepMac, 'type', 'vxlan',
    'id', String(lab.vxlan.vni), 'dstport', String(lab.vxlan.port), 'dev', 'eth0',
  );
  await ip(n.node1, 'link', 'set', 'egress.calico', 'up');
  // Replies arrive decapsulated on egress.calico from outside addresses routed via eth0.
  await sysctl(n.node1, 'net.ipv4.conf.all.rp_filter', '0');
  await sysctl(n.node1, 'net.ipv4.conf.egress/calico.rp_filter', '0');
  await ip(n.node1, 'rule', 'add', 'from', a.cpod, 'iif', 'cali-c', 'lookup', POLICY_TABLE);
  await ip(n.node1, 'route', 'add', 'default', 'via', a.gwpod, 'dev', 'egress.calico', 'onlink', 'table', POLICY_TABLE);
  await ip(n.node1, 'neigh', 'add', a.gwpod, 'lladdr', lab.vxlan.gatewayMac, 'dev', 'egress.calico', 'nud', 'permanent');
  await lab.exec(n.node1, ['bridge', 'fdb', 'add', lab.vxlan.gatewayMac, 'dev', 'egress.calico', 'dst', a.gwpod, 'self', 'permanent']);
}

/** The pools of the lab's cluster (natOutgoing: true): what Felix's ipsets hold, per family. */
const LAB_POOLS = ['100.64.0.0/16'];
export const LAB_POOLS6 = ['2001:db8:64::/48'];
/** Felix's jumps from the built-in chains, which it keeps first: [table, chain, target]. */
const FELIX_JUMPS: ReadonlyArray<readonly [string, string, string]> = [
  ['raw', 'PREROUTING', 'cali-PREROUTING'],
  ['nat', 'POSTROUTING', 'cali-POSTROUTING'],
  ['filter', 'FORWARD', 'cali-FORWARD'],
];

/**
 * What OSS Felix (iptables dataplane) has on a client node, as far as egress steering meets it
 * (Calico OSS Felix's, as published): ipsets of the pools; in raw, packets from workloads marked and
 * dropped when they fail the reverse-path check; in nat, pool → non-pool traffic masqueraded with
 * fully random ports; in filter, FORWARD dropping what neither comes from nor goes to a workload
 * nor belongs to an established connection; strict rp_filter. Felix's own chain and set names, our
 * own rules (Felix's mark bits: 0x40000 is one of its 0xffff0000).
 */
async function buildFelix(lab: Lab, variant: FelixVariant, sysctl: (ns: string, key: string, value: string) => Promise<CommandResult>): Promise<void> {
  const node = lab.names.node1;
  await sysctl(node, 'net.ipv4.conf.all.rp_filter', '1');
  for (const veth of ['cali-c', 'cali-c2']) await sysctl(node, `net.ipv4.conf.${veth}.rp_filter`, '1');
  // Felix writes the same rules for IPv6 (its cali60 sets, ip6tables or an `ip6 calico` table).
  const families: Array<4 | 6> = lab.ipv6 === 'dual' ? [4, 6] : [4];
  for (const family of families) {
    const pools = family === 4 ? LAB_POOLS : LAB_POOLS6;
    if (variant === 'nftables') {
      await lab.exec(node, ['nft', '-f', '-'], { input: felixNft(family, pools) });
      continue;
    }
    for (const set of [`cali${family}0masq-ipam-pools`, `cali${family}0all-ipam-pools`]) {
      await lab.exec(node, ['ipset', 'create', set, 'hash:net', 'family', family === 4 ? 'inet' : 'inet6']);
      for (const pool of pools) await lab.exec(node, ['ipset', 'add', set, pool]);
    }
    await lab.exec(node, [`${family === 4 ? 'iptables' : 'ip6tables'}-${variant}-restore`, '-w', '--noflush'], { input: felixIptables(family) });
  }
}

function felixIptables(family: 4 | 6): string {
  return [
    '*raw',
    ':cali-PREROUTING - [0:0]',
    '-A PREROUTING -j cali-PREROUTING',
    '-A cali-PREROUTING -i cali+ -j MARK --set-xmark 0x40000/0x40000',
    '-A cali-PREROUTING -m mark --mark 0x40000/0x40000 -m rpfilter --validmark --invert -j DROP',
    'COMMIT',
    '*nat',
    ':cali-POSTROUTING - [0:0]',
    ':cali-nat-outgoing - [0:0]',
    '-A POSTROUTING -j cali-POSTROUTING',
    '-A cali-POSTROUTING -j cali-nat-outgoing',
    `-A cali-nat-outgoing -m set --match-set cali${family}0masq-ipam-pools src -m set ! --match-set cali${family}0all-ipam-pools dst -j MASQUERADE --random-fully`,
    'COMMIT',
    '*filter',
    ':FORWARD DROP [0:0]',
    ':cali-FORWARD - [0:0]',
    '-A FORWARD -j cali-FORWARD',
    '-A cali-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '-A cali-FORWARD -i cali+ -j ACCEPT',
    '-A cali-FORWARD -o cali+ -j ACCEPT',
    'COMMIT',
    '',
  ].join('\n');
}

/** The same rules as Felix's nftables mode keeps them: one `ip calico` (`ip6 calico`) table, sets for the pools, base chains of its own. */
function felixNft(family: 4 | 6, pools: readonly string[]): string {
  const [table, type, addr] = family === 4 ? ['ip', 'ipv4_addr', 'ip'] : ['ip6', 'ipv6_addr', 'ip6'];
  return [
    `table ${table} calico {`,
    `\tset cali${family}0masq-ipam-pools { type ${type}; flags interval; elements = { ${pools.join(', ')} } }`,
    `\tset cali${family}0all-ipam-pools { type ${type}; flags interval; elements = { ${pools.join(', ')} } }`,
    '\tchain raw-PREROUTING {',
    '\t\ttype filter hook prerouting priority raw; policy accept;',
    '\t\tiifname "cali*" meta mark set mark or 0x40000',
    '\t\tmeta mark & 0x40000 == 0x40000 fib saddr . mark . iif oif 0 drop',
    '\t}',
    '\tchain nat-POSTROUTING {',
    '\t\ttype nat hook postrouting priority srcnat; policy accept;',
    `\t\t${addr} saddr @cali${family}0masq-ipam-pools ${addr} daddr != @cali${family}0all-ipam-pools counter masquerade fully-random`,
    '\t}',
    '\tchain filter-FORWARD {',
    '\t\ttype filter hook forward priority filter; policy drop;',
    '\t\tct state established,related accept',
    '\t\tiifname "cali*" accept',
    '\t\toifname "cali*" accept',
    '\t}',
    '}',
    '',
  ].join('\n');
}

/**
 * The IPv6 half of the lab (see the header): addresses, forwarding and routes like the IPv4 ones,
 * and Felix's part on the client node for the client pod's IPv6 address.
 */
async function buildIpv6(
  lab: Lab,
  ip: (ns: string, ...args: string[]) => Promise<CommandResult>,
  sysctl: (ns: string, key: string, value: string) => Promise<CommandResult>,
): Promise<void> {
  const { names: n, addrs6: a } = lab;
  for (const [ns, addr] of [
    [n.node1, a.node1],
    [n.node2, a.node2],
    [n.ext, a.ext],
  ] as const) {
    await ip(ns, '-6', 'addr', 'add', `${addr}/64`, 'dev', 'eth0', 'nodad');
  }
  for (const ns of [n.node1, n.node2]) {
    await sysctl(ns, 'net.ipv6.conf.all.forwarding', '1');
    await ip(ns, '-6', 'route', 'add', 'default', 'via', a.ext);
  }
  // As in IPv4: the gateway's pod network is reachable from node1 (VXLAN over IPv6) and ext (replies),
  // and nothing but the return path leads back to the client pod.
  await ip(n.node1, '-6', 'route', 'add', '2001:db8:64:2::/64', 'via', a.node2);
  await ip(n.ext, '-6', 'route', 'add', '2001:db8:64:2::/64', 'via', a.node2);

  const pods: Array<[string, string, string, string]> = [
    [n.node1, 'cali-c', n.cpod, a.cpod],
    [n.node2, 'cali-g', n.gwpod, a.gwpod],
  ];
  if (n.cpod2) pods.push([n.node1, 'cali-c2', n.cpod2, a.cpod2]);
  if (n.gwpod2) pods.push([n.node2, 'cali-g2', n.gwpod2, a.gwpod2]);
  for (const [node, veth, pod, addr] of pods) {
    await ip(node, '-6', 'addr', 'add', `${POD_GATEWAY6}/64`, 'dev', veth, 'nodad');
    await ip(pod, '-6', 'addr', 'add', `${addr}/128`, 'dev', 'eth0', 'nodad');
    await ip(pod, '-6', 'route', 'add', 'default', 'via', POD_GATEWAY6, 'dev', 'eth0');
    await ip(node, '-6', 'route', 'add', `${addr}/128`, 'dev', veth);
  }

  if (lab.ipv6 === 'only') {
    await ip(
      n.node1, 'link', 'add', 'egress.calico', 'address', lab.vxlan.clientVtepMac, 'type', 'vxlan',
      'id', String(lab.vxlan.vni), 'dstport', String(lab.vxlan.port), 'dev', 'eth0', 'local', a.node1,
    );
    await ip(n.node1, 'link', 'set', 'egress.calico', 'up');
    await lab.exec(n.node1, ['bridge', 'fdb', 'add', lab.vxlan.gatewayMac, 'dev', 'egress.calico', 'dst', a.gwpod, 'self', 'permanent']);
  }
  // On an OSS node the agent steers IPv6 too.
  if (lab.felix) return;
  // IPv6 has no rp_filter: replies decapsulated on egress.calico need no sysctl to get in.
  await ip(n.node1, '-6', 'rule', 'add', 'from', a.cpod, 'iif', 'cali-c', 'lookup', POLICY_TABLE);
  // Not `onlink` as in IPv4: the kernel checks an IPv6 onlink next hop against the main table, where
  // node1's route to the gateway's pod network points out of eth0 ("device mismatch"). A device
  // route for the gateway's address in table 250 makes it a plain connected next hop instead.
  await ip(n.node1, '-6', 'route', 'add', `${a.gwpod}/128`, 'dev', 'egress.calico', 'table', POLICY_TABLE);
  await ip(n.node1, '-6', 'route', 'add', 'default', 'via', a.gwpod, 'dev', 'egress.calico', 'table', POLICY_TABLE);
  await ip(n.node1, '-6', 'neigh', 'add', a.gwpod, 'lladdr', lab.vxlan.gatewayMac, 'dev', 'egress.calico', 'nud', 'permanent');
}

/** Counters, timestamps and ids that change with traffic or time, so two dumps compare equal. */
function normalize(text: string): string {
  return text
    .split('\n')
    .filter((l) => !/^# (Generated|Completed|Warning)/.test(l))
    .map((l) => l.replace(/\[\d+:\d+\]/g, '[-]').replace(/counter packets \d+ bytes \d+/g, 'counter'))
    .join('\n');
}

function startCapture(child: ChildProcess): Promise<Capture> {
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (c: string) => (out += c));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const capture: Capture = {
    waitFor: (pattern, timeoutMs = 5000) =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          if (!pattern.test(out)) return false;
          cleanup();
          resolve(out);
          return true;
        };
        const onData = (): void => void check();
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`lab capture: no ${pattern} within ${timeoutMs} ms; got:\n${out}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          child.stdout?.off('data', onData);
        };
        if (!check()) child.stdout?.on('data', onData);
      }),
    stop: async () => {
      await stopChild(child, 'SIGINT');
      await closed;
      return out;
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`lab capture: tcpdump did not start listening: ${err}`)), 10_000);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      void stopChild(child, 'SIGKILL').then(() => reject(e));
    };
    child.stderr?.on('data', (c: string) => {
      err += c;
      if (/listening on/.test(err)) {
        clearTimeout(timer);
        resolve(capture);
      }
    });
    child.once('close', (code) => fail(new Error(`lab capture: tcpdump exited ${code}: ${err}`)));
  });
}

/** Signals a child and waits for it to exit, escalating to SIGKILL after 3 s. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const closed = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await closed;
  clearTimeout(timer);
}

/** Every whole line a child prints on stdout and stderr, appended to `into` as it comes. */
export function collectLines(child: ChildProcess, into: string[]): void {
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.on('data', (c: Buffer) => {
      const lines = (partial + c.toString()).split('\n');
      partial = lines.pop() ?? '';
      into.push(...lines);
    });
  }
}

/** Reads a spawned child's stdout until a line matches; rejects on exit or after timeoutMs. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    // stderr is kept for the message only: why a tool died (e.g. `ip netns exec` with no namespace).
    let err = '';
    const onData = (c: Buffer | string): void => {
      out += c.toString();
      if (pattern.test(out)) done(() => resolve(out));
    };
    const onErr = (c: Buffer | string): void => {
      err = (err + c.toString()).slice(-2000);
    };
    const onClose = (code: number | null): void => done(() => reject(new Error(`exited ${code} before printing ${pattern}; printed:\n${out}${err ? `\nstderr:\n${err}` : ''}`)));
    const timer = setTimeout(() => done(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms; printed:\n${out}`))), timeoutMs);
    const done = (fn: () => void): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onErr);
      child.off('close', onClose);
      fn();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onErr);
    child.once('close', onClose);
  });
}

/**
 * Runs `fn` with a fresh lab and always tears it down. On failure, the kernel state of the gateway
 * and client node goes to the test's diagnostics before the error is rethrown.
 */
export async function withLab<T>(
  t: Pick<TestContext, 'diagnostic'> | undefined,
  fn: (lab: Lab) => Promise<T>,
  options: LabOptions = {},
): Promise<T> {
  const lab = await createLab(options);
  try {
    return await fn(lab);
  } catch (err) {
    if (t) {
      for (const ns of [lab.names.gwpod, lab.names.node1]) {
        const state = await lab.kernelState(ns).catch((e: unknown) => String(e));
        t.diagnostic(`${ns}:\n${state}`);
      }
    }
    throw err;
  } finally {
    await lab.teardown();
  }
}
