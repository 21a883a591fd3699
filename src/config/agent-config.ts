import type { Level } from 'pino';
import { configError } from '../errors';
import type { Cidr } from '../model/ip';
import { parseStatusSocket } from '../status/config';
import { parseDurationSetting } from './duration';
import { parseChoice, parseCidrList, parseIntegerInRange, pick, type Env } from './env';
import { parseLogLevel, parseVxlanSettings } from './init-config';
import { checkSocketPath } from './socket-path';
import {
  DEFAULT_AGENT_GATEWAY_SELECTOR,
  DEFAULT_AGENT_HEALTH_PORT,
  DEFAULT_AGENT_POLICYSYNC_SOCKET,
  DEFAULT_AGENT_ROUTE_TABLES,
  DEFAULT_AGENT_RULE_PRIORITY,
} from './variables';

/** Flags of `egress-gateway agent`; each overrides the variable of the same meaning. */
export interface AgentFlags {
  readonly nodeName?: string;
  readonly kubeconfig?: string;
  readonly gatewaySelector?: string;
  readonly routeTables?: string;
  readonly rulePriority?: string;
  readonly policysyncSocket?: string;
  readonly healthPort?: string;
  readonly vni?: string;
  readonly vxlanPort?: string;
  readonly statusSocket?: string;
  readonly logSeverity?: string;
  readonly multipathHash?: string;
  /** `--teardown`: remove everything the agent owns on this node, then exit (the uninstall step). */
  readonly teardown?: boolean;
}

export interface AgentConfig {
  readonly nodeName: string;
  /** Undefined: the in-cluster service account. */
  readonly kubeconfig?: string;
  /** A Kubernetes label selector (the watch's labelSelector), validated here. */
  readonly gatewaySelector: string;
  readonly routeTables: { readonly first: number; readonly last: number };
  readonly rulePriority: number;
  readonly vni: number;
  readonly vxlanPort: number;
  readonly policysyncSocket: string;
  /** 0: no health server. */
  readonly healthPort: number;
  readonly gatewayPoll: { readonly intervalMs: number; readonly timeoutMs: number; readonly failureThreshold: number };
  readonly statusSocket: string;
  readonly logLevel: Level;
  /** AGENT_BYPASS_CIDRS: more destinations steered pods reach directly (besides the IP pools and this node). */
  readonly bypassCidrs: readonly Cidr[];
  /** Gateway health beyond the poll (issue #16): the readiness stream, the ICMP echo, the grace of flows. */
  readonly gatewaySignals: {
    readonly stream: boolean;
    readonly heartbeatMs: number;
    /** 0: no echo. */
    readonly echoIntervalMs: number;
    readonly echoMisses: number;
    readonly flowGraceMs: number;
  };
  /** AGENT_FLOW_MARK_MASK: the mark bits that pin connections to their gateway; 0: no pinning. */
  readonly flowMarkMask: number;
  /** AGENT_MULTIPATH_HASH; undefined: the node's fib_multipath_hash_policy is left alone. */
  readonly multipathHash?: 'l3' | 'l4';
}

export const AGENT_DEFAULTS = {
  pollIntervalMs: 10_000,
  pollTimeoutMs: 5_000,
  pollFailures: 3,
  heartbeatMs: 1_000,
  echoIntervalMs: 100,
  echoMisses: 3,
  flowGraceMs: 5_000,
  flowMarkMask: 0x3f00,
} as const;

/** Mark bits others own: Felix's (iptablesMarkMask default) and kube-proxy's masquerade and drop bits. */
const FOREIGN_MARK_BITS = 0xffff0000 | 0x4000 | 0x8000;

/** Table ids Felix owns by default (routeTableRanges 1-250) and the kernel's own (253 default, 254 main, 255 local). */
const FELIX_TABLES = { first: 1, last: 250 };
const MAX_TABLE = 0xffffffff;

/** A Kubernetes node name: a DNS subdomain. */
const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function parseAgentConfig(env: Env, flags: AgentFlags = {}): AgentConfig {
  const node = pick(env, 'NODE_NAME', { name: '--node-name', value: flags.nodeName });
  if (node.value === undefined) throw configError(node.name, undefined, 'is required (the downward API spec.nodeName)');
  if (node.value.length > 253 || !NODE_NAME.test(node.value)) throw configError(node.name, node.value, 'must be a Kubernetes node name (lower-case letters, digits, "-" and ".")');
  const kube = pick(env, 'KUBECONFIG', { name: '--kubeconfig', value: flags.kubeconfig });
  if (kube.value !== undefined && kube.value.includes(':')) {
    // kubectl merges a list; the agent reads one file, and says so rather than reading the first silently.
    throw configError(kube.name, kube.value, 'must name one kubeconfig file (a list is not supported)');
  }
  const selector = pick(env, 'AGENT_GATEWAY_SELECTOR', { name: '--gateway-selector', value: flags.gatewaySelector });
  const gatewaySelector = selector.value ?? DEFAULT_AGENT_GATEWAY_SELECTOR;
  checkLabelSelector(selector.name, gatewaySelector);
  const routeTables = parseTableRange(pick(env, 'AGENT_ROUTE_TABLES', { name: '--route-tables', value: flags.routeTables }));
  const rulePriority = parseIntegerInRange(pick(env, 'AGENT_RULE_PRIORITY', { name: '--rule-priority', value: flags.rulePriority }), 1, 32765, DEFAULT_AGENT_RULE_PRIORITY);
  const { vni, vxlanPort } = parseVxlanSettings(env, flags);
  const socket = pick(env, 'AGENT_POLICYSYNC_SOCKET', { name: '--policysync-socket', value: flags.policysyncSocket });
  const policysyncSocket = checkSocketPath(socket, socket.value ?? DEFAULT_AGENT_POLICYSYNC_SOCKET);
  const healthPort = parseIntegerInRange(pick(env, 'AGENT_HEALTH_PORT', { name: '--health-port', value: flags.healthPort }), 0, 65535, DEFAULT_AGENT_HEALTH_PORT);
  const intervalSetting = pick(env, 'AGENT_GATEWAY_POLL_INTERVAL');
  const timeoutSetting = pick(env, 'AGENT_GATEWAY_POLL_TIMEOUT');
  const intervalMs = parseDurationSetting(intervalSetting, AGENT_DEFAULTS.pollIntervalMs, { minMs: 100, maxMs: 3_600_000 });
  const timeoutMs = parseDurationSetting(timeoutSetting, AGENT_DEFAULTS.pollTimeoutMs, { minMs: 50, maxMs: 3_600_000 });
  if (timeoutMs > intervalMs) {
    const bad = timeoutSetting.value !== undefined ? timeoutSetting : intervalSetting;
    throw configError(bad.name, bad.value, 'AGENT_GATEWAY_POLL_TIMEOUT must not be longer than AGENT_GATEWAY_POLL_INTERVAL (polls of one gateway never overlap)');
  }
  const failureThreshold = parseIntegerInRange(pick(env, 'AGENT_GATEWAY_POLL_FAILURES'), 1, 100, AGENT_DEFAULTS.pollFailures);
  const statusSocket = parseStatusSocket(env, { name: '--status-socket', value: flags.statusSocket });
  const logLevel = parseLogLevel(env, flags.logSeverity);
  const bypassCidrs = parseCidrList(pick(env, 'AGENT_BYPASS_CIDRS'));
  const stream = parseChoice(pick(env, 'AGENT_GATEWAY_STREAM'), ['true', 'false'], 'true') === 'true';
  const heartbeatMs = parseDurationSetting(pick(env, 'AGENT_GATEWAY_STREAM_HEARTBEAT'), AGENT_DEFAULTS.heartbeatMs, { minMs: 50, maxMs: 60_000 });
  const echoSetting = pick(env, 'AGENT_GATEWAY_ECHO_INTERVAL');
  const echoIntervalMs = parseDurationSetting(echoSetting, AGENT_DEFAULTS.echoIntervalMs, { minMs: 0, maxMs: 10_000 });
  if (echoIntervalMs > 0 && echoIntervalMs < 20) throw configError(echoSetting.name, echoSetting.value, 'must be 0 (no echo) or from 20ms to 10s');
  const echoMisses = parseIntegerInRange(pick(env, 'AGENT_GATEWAY_ECHO_MISSES'), 1, 100, AGENT_DEFAULTS.echoMisses);
  const flowGraceMs = parseDurationSetting(pick(env, 'AGENT_FLOW_GRACE'), AGENT_DEFAULTS.flowGraceMs, { minMs: 0, maxMs: 600_000 });
  const flowMarkMask = parseMarkMask(pick(env, 'AGENT_FLOW_MARK_MASK'));
  if (flowMarkMask !== 0 && rulePriority < 2) {
    throw configError('AGENT_RULE_PRIORITY', String(rulePriority), 'must be at least 2 while AGENT_FLOW_MARK_MASK pins flows (its rules sit one priority earlier)');
  }
  const hash = pick(env, 'AGENT_MULTIPATH_HASH', { name: '--multipath-hash', value: flags.multipathHash });
  const multipathHash = hash.value === undefined ? undefined : parseChoice(hash, ['l3', 'l4'] as const, 'l3');
  return Object.freeze({
    nodeName: node.value,
    ...(kube.value !== undefined ? { kubeconfig: kube.value } : {}),
    gatewaySelector,
    routeTables,
    rulePriority,
    vni,
    vxlanPort,
    policysyncSocket,
    healthPort,
    gatewayPoll: { intervalMs, timeoutMs, failureThreshold },
    statusSocket,
    logLevel,
    bypassCidrs,
    gatewaySignals: { stream, heartbeatMs, echoIntervalMs, echoMisses, flowGraceMs },
    flowMarkMask,
    ...(multipathHash ? { multipathHash } : {}),
  });
}

/** A mark mask: 0, or contiguous bits (room for 1 to 255 gateways) clear of Felix's and kube-proxy's. */
function parseMarkMask(s: { name: string; value: string | undefined }): number {
  if (s.value === undefined) return AGENT_DEFAULTS.flowMarkMask;
  if (!/^(0x[0-9a-fA-F]{1,8}|\d{1,10})$/.test(s.value)) throw configError(s.name, s.value, 'must be a number such as 0x3f00 (or 0 for no pinning)');
  const mask = Number(s.value) >>> 0;
  if (mask === 0) return 0;
  const low = mask & -mask;
  const bits = mask / low;
  // Contiguous: mask/low is 2^n - 1.
  if ((bits & (bits + 1)) !== 0) throw configError(s.name, s.value, 'must be contiguous bits, such as 0x3f00');
  if (bits < 1 || bits > 0xff) throw configError(s.name, s.value, 'must be 1 to 8 contiguous bits (up to 255 pinned gateways)');
  if ((mask & FOREIGN_MARK_BITS) !== 0) throw configError(s.name, s.value, "overlaps Felix's mark bits (0xffff0000) or kube-proxy's (0x4000, 0x8000)");
  return mask;
}


export type AgentTeardownConfig = Pick<AgentConfig, 'routeTables' | 'rulePriority' | 'policysyncSocket' | 'logLevel' | 'multipathHash'>;

/**
 * `egress-gateway agent --teardown` reads only what says which kernel state and socket are the
 * agent's: it talks to no API server and needs no NODE_NAME, so it can run on a node by hand.
 */
export function parseAgentTeardownConfig(env: Env, flags: AgentFlags = {}): AgentTeardownConfig {
  const routeTables = parseTableRange(pick(env, 'AGENT_ROUTE_TABLES', { name: '--route-tables', value: flags.routeTables }));
  const rulePriority = parseIntegerInRange(pick(env, 'AGENT_RULE_PRIORITY', { name: '--rule-priority', value: flags.rulePriority }), 1, 32765, DEFAULT_AGENT_RULE_PRIORITY);
  const socket = pick(env, 'AGENT_POLICYSYNC_SOCKET', { name: '--policysync-socket', value: flags.policysyncSocket });
  const policysyncSocket = checkSocketPath(socket, socket.value ?? DEFAULT_AGENT_POLICYSYNC_SOCKET);
  return Object.freeze({ routeTables, rulePriority, policysyncSocket, logLevel: parseLogLevel(env, flags.logSeverity) });
}

function parseTableRange(s: { name: string; value: string | undefined }): { first: number; last: number } {
  const text = s.value ?? DEFAULT_AGENT_ROUTE_TABLES;
  const m = /^(\d{1,10})-(\d{1,10})$/.exec(text);
  if (!m) throw configError(s.name, s.value, 'must be a range FROM-TO of route table ids, e.g. 1000-1999');
  const first = Number(m[1]);
  const last = Number(m[2]);
  if (first < 1 || last > MAX_TABLE || first > last) throw configError(s.name, s.value, `must be FROM-TO with 1 <= FROM <= TO <= ${MAX_TABLE}`);
  if (first <= FELIX_TABLES.last && last >= FELIX_TABLES.first) throw configError(s.name, s.value, "overlaps tables 1-250, which Felix owns by default (routeTableRanges)");
  if (first <= 255 && last >= 253) throw configError(s.name, s.value, 'overlaps the kernel tables 253-255 (default, main, local)');
  return { first, last };
}

/** The Kubernetes label selector syntax, checked here so a typo stops the agent at start, not at its first watch. */
function checkLabelSelector(name: string, text: string): void {
  const key = '[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?';
  const value = '[A-Za-z0-9._-]*';
  const part = new RegExp(`^(!?${key}|${key}\\s*(=|==|!=)\\s*${value}|${key}\\s+(in|notin)\\s*\\(\\s*${value}(\\s*,\\s*${value})*\\s*\\))$`);
  const parts = text.split(/,(?![^(]*\))/).map((p) => p.trim());
  for (const p of parts) {
    if (!part.test(p)) throw configError(name, text, `is not a Kubernetes label selector (at ${JSON.stringify(p)})`);
  }
}
