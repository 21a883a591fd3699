import type { Level } from 'pino';
import { configError } from '../errors';
import type { Cidr } from '../model/ip';
import { parseStatusSocket } from '../status/config';
import { parseDurationSetting } from './duration';
import { parseCidrList, parseIntegerInRange, pick, type Env } from './env';
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
}

export const AGENT_DEFAULTS = {
  pollIntervalMs: 10_000,
  pollTimeoutMs: 5_000,
  pollFailures: 3,
} as const;

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
  });
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
