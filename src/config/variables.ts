/**
 * Every environment variable the gateway reads, per command, in one place. It is the source for the
 * README's table and for the tests that hold the seed manifest and the Helm chart to what the code reads:
 * when a parser starts or stops reading a variable, change this list in the same commit.
 */

export type CommandName = 'init' | 'start' | 'status' | 'agent';

export interface VariableSpec {
  readonly name: string;
  /** The commands that read it. */
  readonly commands: readonly CommandName[];
  /** The value used when the variable is unset or empty, as a user would write it; undefined = no default. */
  readonly default: string | undefined;
  /** The command-line flag that overrides it, when there is one. */
  readonly flag?: string;
  readonly meaning: string;
}

export const DEFAULT_SOCKET_PATH = '/var/run/nodeagent/socket';
export const DEFAULT_HEALTH_PORT = 8080;
/** The OSS node agent's settings (names fixed: the chart and docs/agent.md use them). */
export const DEFAULT_AGENT_POLICYSYNC_SOCKET = '/var/run/egress-gateway/policysync/socket';
export const DEFAULT_AGENT_GATEWAY_SELECTOR = 'egress-gateway.io/gateway=true';
export const DEFAULT_AGENT_HEALTH_PORT = 9570;
export const DEFAULT_AGENT_ROUTE_TABLES = '1000-1999';
export const DEFAULT_AGENT_RULE_PRIORITY = 100;
/**
 * Under /tmp, not /var/run: Calico's manifests mount Felix's policysync volume at /var/run, and the status
 * socket must stay private to this container. docs/status.md covers read-only root filesystems.
 */
export const DEFAULT_STATUS_SOCKET = '/tmp/egress-gateway/status.sock';
/** What the kubelet and Felix poll; a constant of the health server, not a setting. */
export const READINESS_PATH = '/readiness';
/** The client nodes' agents' readiness stream (src/health/stream.ts); Felix never asks for it. */
export const READINESS_STREAM_PATH = '/readiness/stream';
export const LIVENESS_PATH = '/liveness';

export const VARIABLES: readonly VariableSpec[] = [
  {
    name: 'EGRESS_POD_IP',
    commands: ['init', 'start'],
    default: undefined,
    flag: '--pod-ip',
    meaning: 'The pod IP (downward API status.podIP): the SNAT source, the vxlan0 address and MAC. Required unless EGRESS_POD_IPS is set. May be IPv6 (an IPv6-only gateway).',
  },
  {
    name: 'EGRESS_POD_IPS',
    commands: ['init', 'start'],
    default: undefined,
    flag: '--pod-ip',
    meaning: 'All pod IPs, comma separated (downward API status.podIPs); wins over EGRESS_POD_IP. The first address of each family is used: each gets SNAT and an MSS clamp; vxlan0 uses the IPv4 one, or the IPv6 one on an IPv6-only pod (docs/dual-stack.md).',
  },
  {
    name: 'EGRESS_VXLAN_VNI',
    commands: ['init', 'start', 'agent'],
    default: '4097',
    flag: '--vni',
    meaning: 'VXLAN network identifier of vxlan0 (1 to 16777215); must match what Felix uses for egress gateways.',
  },
  {
    name: 'EGRESS_VXLAN_PORT',
    commands: ['init', 'start', 'agent'],
    default: '4790',
    flag: '--vxlan-port',
    meaning: 'UDP port of vxlan0 (1 to 65535).',
  },
  {
    name: 'EGRESS_INTERFACE',
    commands: ['init', 'start'],
    default: 'eth0',
    flag: '--interface',
    meaning: "The pod's underlay interface: vxlan0's parent and where SNAT applies (init); the daemon re-creates vxlan0 on it and routes client nodes' tunnel addresses out of it. Give both containers the same value.",
  },
  {
    name: 'DATAPLANE',
    commands: ['init', 'start'],
    default: 'iptables',
    flag: '--dataplane',
    meaning: 'How SNAT and MSS clamping are programmed: iptables or nftables. The daemon holds them with the same backend; when unset there, it uses the one init wrote them with.',
  },
  {
    name: 'IPTABLES_BACKEND',
    commands: ['init', 'start'],
    default: undefined,
    flag: '--iptables-backend',
    meaning: 'legacy or nft, when DATAPLANE=iptables; detected when unset (the daemon: where init wrote the rules).',
  },
  {
    name: 'DAEMON_SOCKET_PATH',
    commands: ['start'],
    default: DEFAULT_SOCKET_PATH,
    flag: '--socket-path',
    meaning: "Felix's PolicySync socket; the default is where the policysync CSI volume puts it when mounted at /var/run.",
  },
  {
    name: 'HEALTH_PORT',
    commands: ['start'],
    default: String(DEFAULT_HEALTH_PORT),
    flag: '--health-port',
    meaning: 'Port of the health server (/readiness, /liveness, /metrics); 0 disables it. Felix polls it through the container port named "health".',
  },
  {
    name: 'HEALTH_HOST',
    commands: ['start'],
    default: undefined,
    flag: '--health-host',
    meaning: 'Address the health server listens on; the egress IP when unset.',
  },
  {
    name: 'HEALTH_MAX_CONNECTIONS',
    commands: ['start'],
    default: '4096',
    meaning: "Connections the health port keeps open at once (1 to 1000000); more are refused at once and counted in egress_gateway_health_connections_dropped_total. Client-node agents' readiness streams (one per node) may take three quarters of it (3,072 nodes by default; more get 503 and poll instead); the rest stays for the kubelet's and Felix's polls.",
  },
  {
    name: 'HEALTH_TIMEOUT_DATASTORE',
    commands: ['start'],
    default: '90s',
    meaning: 'How long the PolicySync stream may be down before the gateway reports not ready (Go duration).',
  },
  {
    name: 'ICMP_PROBE_IPS',
    commands: ['start'],
    default: '',
    meaning: 'Addresses to ping, comma separated; empty = no ICMP check. Ready while at least one answers.',
  },
  {
    name: 'ICMP_PROBE_INTERVAL',
    commands: ['start'],
    default: '5s',
    meaning: 'How often each ICMP target is pinged (Go duration).',
  },
  {
    name: 'ICMP_PROBE_TIMEOUT',
    commands: ['start'],
    default: '15s',
    meaning: 'How long without any ICMP answer before the check fails (Go duration, not shorter than the interval).',
  },
  {
    name: 'HTTP_PROBE_URLS',
    commands: ['start'],
    default: '',
    meaning: 'URLs to GET, comma separated; empty = no HTTP check. Any HTTP status counts as an answer.',
  },
  {
    name: 'HTTP_PROBE_INTERVAL',
    commands: ['start'],
    default: '10s',
    meaning: 'How often each URL is requested (Go duration).',
  },
  {
    name: 'HTTP_PROBE_TIMEOUT',
    commands: ['start'],
    default: '10s',
    meaning: 'How long without any HTTP answer before the check fails (Go duration, not shorter than the interval).',
  },
  {
    name: 'DRAIN_DELAY',
    commands: ['start'],
    default: '10s',
    meaning: 'On SIGTERM, how long readiness answers 503 before the daemon stops, so clients move away first (Go duration). Keep the pod grace period longer.',
  },
  {
    name: 'RESYNC_INTERVAL',
    commands: ['start'],
    default: '30s',
    flag: '--resync-interval',
    meaning: 'Period of the full kernel resync that repairs drift (Go duration).',
  },
  {
    name: 'AUDIT_LOG',
    commands: ['init', 'start'],
    default: undefined,
    meaning:
      'SNAT audit log: "stdout" or an absolute file path (appended to) for one JSON line per SNATed connection start and end; unset = off. Also turns on the snat_* metrics. Give it to init too: init turns on nf_conntrack_acct and nf_conntrack_timestamp in the pod namespace, which the unprivileged daemon cannot.',
  },
  {
    name: 'AUDIT_LOG_RATE',
    commands: ['start'],
    default: '1000',
    meaning: 'Audit lines per second, sustained (1 to 1000000); lines beyond the rate and burst are dropped and counted in egress_gateway_audit_log_dropped_total.',
  },
  {
    name: 'AUDIT_LOG_BURST',
    commands: ['start'],
    default: '10000',
    meaning: 'Audit lines that may be written at once above the rate (1 to 10000000).',
  },
  {
    name: 'NODE_NAME',
    commands: ['agent'],
    default: undefined,
    flag: '--node-name',
    meaning: "The agent's node (downward API spec.nodeName): whose pods it steers, whose gateways it feeds routes to. Required.",
  },
  {
    name: 'KUBECONFIG',
    commands: ['agent'],
    default: undefined,
    flag: '--kubeconfig',
    meaning: "A kubeconfig file for the Kubernetes API; unset: the pod's in-cluster service account.",
  },
  {
    name: 'AGENT_GATEWAY_SELECTOR',
    commands: ['agent'],
    default: DEFAULT_AGENT_GATEWAY_SELECTOR,
    flag: '--gateway-selector',
    meaning: 'Kubernetes label selector of the gateway pods the agent watches, cluster-wide (the chart puts this label on every gateway pod).',
  },
  {
    name: 'AGENT_ROUTE_TABLES',
    commands: ['agent'],
    default: DEFAULT_AGENT_ROUTE_TABLES,
    flag: '--route-tables',
    meaning: "Route tables the agent may use for steered pods, FROM-TO (Felix owns 1-250 by default; keep clear of it and of 253-255).",
  },
  {
    name: 'AGENT_RULE_PRIORITY',
    commands: ['agent'],
    default: String(DEFAULT_AGENT_RULE_PRIORITY),
    flag: '--rule-priority',
    meaning: "Priority of the agent's `ip rule from <pod IP>` entries (1 to 32765; Enterprise's egressIPRoutingRulePriority default is 100).",
  },
  {
    name: 'AGENT_POLICYSYNC_SOCKET',
    commands: ['agent'],
    default: DEFAULT_AGENT_POLICYSYNC_SOCKET,
    flag: '--policysync-socket',
    meaning: 'Host Unix socket where the agent serves felix.PolicySync/Sync (l3-routes) to the gateways on its node; the chart mounts its folder into gateway pods at /var/run/nodeagent.',
  },
  {
    name: 'AGENT_HEALTH_PORT',
    commands: ['agent'],
    default: String(DEFAULT_AGENT_HEALTH_PORT),
    flag: '--health-port',
    meaning: "Port (host network) of the agent's /readiness, /liveness and /metrics; 0 disables it.",
  },
  {
    name: 'AGENT_BYPASS_CIDRS',
    commands: ['agent'],
    default: '',
    meaning: "Destinations steered pods reach directly, not through a gateway, comma separated CIDRs (e.g. the node network), besides Calico's IP pools and the agent's own node, which are always direct.",
  },
  {
    name: 'AGENT_MULTIPATH_HASH',
    commands: ['agent'],
    default: undefined,
    flag: '--multipath-hash',
    meaning: "How the node spreads steered flows over a pod's gateways (a node-wide setting): l4 hashes addresses, protocol and ports, so one pod's connections spread (net.ipv4.fib_multipath_hash_policy=3, _fields=0x37; IPv6 the same); l3 hashes addresses only (IPv4 policy 0; IPv6 policy 3, fields 0x03, never the flow label). Unset: the node's setting is left alone. Each flow stays on its gateway either way.",
  },
  {
    name: 'AGENT_GATEWAY_POLL_INTERVAL',
    commands: ['agent'],
    default: '10s',
    meaning: "How often the agent polls a gateway it keeps no readiness stream to (AGENT_GATEWAY_STREAM off, or a gateway without the stream): GET /readiness on the pod's port named health, as Felix does (Go duration).",
  },
  {
    name: 'AGENT_GATEWAY_POLL_TIMEOUT',
    commands: ['agent'],
    default: '5s',
    meaning: 'How long one gateway poll may take before it counts as a failure (Go duration, at most the interval).',
  },
  {
    name: 'AGENT_GATEWAY_POLL_FAILURES',
    commands: ['agent'],
    default: '3',
    meaning: 'Failed polls in a row before a gateway gets no new flows (1 to 100); one success takes it back.',
  },
  {
    name: 'AGENT_GATEWAY_STREAM',
    commands: ['agent'],
    default: 'true',
    meaning: "true: keep a readiness stream open to each gateway (GET /readiness/stream on its health port), which pushes a 503 or a drain at once and ends when the gateway's process dies; a gateway without the stream endpoint is polled. false: poll only, as Enterprise's Felix (docs/design.md section 12).",
  },
  {
    name: 'AGENT_GATEWAY_STREAM_HEARTBEAT',
    commands: ['agent'],
    default: '1s',
    meaning: 'Heartbeat period the agent asks each gateway for on the stream (50ms to 60s); a stream silent for three periods is lost. The check of last resort, for a gateway whose pod address does not answer the echo.',
  },
  {
    name: 'AGENT_GATEWAY_ECHO_INTERVAL',
    commands: ['agent'],
    default: '100ms',
    meaning: "ICMP echo to each gateway pod this often (20ms to 10s; 0 turns it off), answered by the gateway's kernel: finds a gateway whose node is cut off. Needs CAP_NET_RAW; without it, or where ICMP to the pod is blocked, the stream's heartbeat is the check.",
  },
  {
    name: 'AGENT_GATEWAY_ECHO_MISSES',
    commands: ['agent'],
    default: '3',
    meaning: 'Echoes in a row left unanswered (each given one interval) before a gateway that had answered gets no new flows (1 to 100).',
  },
  {
    name: 'AGENT_FLOW_GRACE',
    commands: ['agent'],
    default: '5s',
    meaning: "How long established flows stay on a gateway that stopped being usable for any reason but a drain (0 to 10m): a gateway daemon restarted by the kubelet within it breaks none of them; past it, they move and are reset. A draining gateway keeps its flows until its pod is gone.",
  },
  {
    name: 'AGENT_FLOW_MARK_MASK',
    commands: ['agent'],
    default: '0x3f00',
    meaning: "Packet and conntrack mark bits the agent uses to keep each connection on the gateway it started with (contiguous bits, outside Felix's 0xffff0000 and kube-proxy's 0xc000; 0 turns pinning off, and a drain then moves its gateway's flows at once, as in Felix's eBPF mode, which ignores marks). Its rules sit at AGENT_RULE_PRIORITY - 1.",
  },
  {
    name: 'STATUS_SOCKET',
    commands: ['start', 'status', 'agent'],
    default: DEFAULT_STATUS_SOCKET,
    flag: '--status-socket',
    meaning: 'Unix socket (mode 0600) where the daemon serves `egress-gateway status`; `status` reads the same variable (or its --socket flag). Its folder must be writable (docs/status.md).',
  },
  {
    name: 'LOG_SEVERITY',
    commands: ['init', 'start', 'agent'],
    default: 'info',
    flag: '--log-severity',
    meaning: 'debug, info, warning, error, fatal or panic (Calico\'s names).',
  },
];

export function variablesFor(command: CommandName): readonly VariableSpec[] {
  return VARIABLES.filter((v) => v.commands.includes(command));
}

export function findVariable(name: string): VariableSpec | undefined {
  return VARIABLES.find((v) => v.name === name);
}

/** The README's environment table (Markdown), generated so that it cannot drift from the list. */
export function variablesMarkdownTable(): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  const rows = VARIABLES.map((v) => {
    const def = v.default === undefined ? '—' : v.default === '' ? '(empty)' : `\`${v.default}\``;
    const flag = v.flag ? `\`${v.flag}\`` : '—';
    return `| \`${v.name}\` | ${v.commands.join(', ')} | ${def} | ${flag} | ${cell(v.meaning)} |`;
  });
  return ['| variable | read by | default | flag | meaning |', '|---|---|---|---|---|', ...rows].join('\n') + '\n';
}
