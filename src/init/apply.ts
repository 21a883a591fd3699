import { GatewayError, ErrorCodes, describeCause, isGatewayError } from '../errors';
import type { LinkState, Links, Netfilter, Sysctl, VxlanSpec } from '../kernel/ports';
import type { Logger } from '../observability/logger';
import { rulesetsFor, type InitPlan, type SysctlSetting } from './plan';
import type { RulesetPayload } from './ruleset';

export interface InitPorts {
  readonly links: Links;
  readonly sysctl: Sysctl;
  /** The plan's backend: the SNAT and MSS clamp rules. */
  readonly netfilter: Netfilter;
  /** nft, for the fail-safe table when `netfilter` is an iptables backend (with nftables, `netfilter` applies it). */
  readonly failsafe?: Netfilter;
}

export interface InitOutcome {
  readonly link: LinkState;
  /** Sysctl keys whose value had to change (empty on a second run). */
  readonly changedSysctls: readonly string[];
  /** What was applied, in order (one payload per iptables family, or one inet nft payload). */
  readonly rulesets: readonly RulesetPayload[];
}

/*
 * The ensure* steps are idempotent on their own, so the daemon can call them again to re-assert
 * what init set up.
 */

/** Creates or repairs the VXLAN device; leaves a matching one alone. */
export async function ensureVxlan(links: Links, spec: VxlanSpec): Promise<LinkState> {
  return links.ensureVxlan(spec);
}

/** Writes only the settings that differ; returns the keys it wrote. */
export async function ensureSysctls(sysctl: Sysctl, settings: readonly SysctlSetting[]): Promise<string[]> {
  const changed: string[] = [];
  for (const s of settings) {
    if ((await sysctl.get(s.key)) === s.value) continue;
    await sysctl.set(s.key, s.value);
    changed.push(s.key);
  }
  return changed;
}

/** The adapter that applies `payload`: the fail-safe goes through nft whatever the dataplane. */
export function netfilterFor(ports: Pick<InitPorts, 'netfilter' | 'failsafe'>, payload: Pick<RulesetPayload, 'part'>): Netfilter {
  return payload.part === 'failsafe' && ports.failsafe ? ports.failsafe : ports.netfilter;
}

/**
 * Rewrites the owned chains/tables whole: one transaction per payload (the fail-safe, then IPv4
 * and IPv6 for iptables, or a single inet transaction for nftables). Each is idempotent, so after
 * a failure in the IPv6 one the next run repairs it without disturbing the IPv4 rules.
 */
export async function ensureRuleset(ports: Pick<InitPorts, 'netfilter' | 'failsafe'>, rulesets: readonly RulesetPayload[]): Promise<void> {
  for (const r of rulesets) await netfilterFor(ports, r).apply(r.text, r.family);
}

const STEPS = ['vxlan device', 'sysctls', 'netfilter ruleset'] as const;

/**
 * Applies the plan: vxlan0 first (its MTU sets the MSS clamp, and its rp_filter needs it to
 * exist), then sysctls, then the ruleset. A failure names the step, what was already done and
 * what was not attempted, and keeps the failing step's error code.
 */
export async function applyInit(plan: InitPlan, ports: InitPorts, logger: Logger): Promise<InitOutcome> {
  if (ports.netfilter.backend !== plan.backend) {
    throw new GatewayError(ErrorCodes.INTERNAL, `plan is for ${plan.backend} but the netfilter adapter is ${ports.netfilter.backend}`);
  }
  let step = 0;
  try {
    const link = await ensureVxlan(ports.links, plan.vxlan);
    logger.info({ component: 'init', event: 'vxlan_ready', link: link.name, mtu: link.mtu, mac: link.mac }, 'vxlan device ready');
    step = 1;
    const changedSysctls = await ensureSysctls(ports.sysctl, plan.sysctls);
    logger.info({ component: 'init', event: 'sysctls_ready', changed: changedSysctls }, 'sysctls set');
    step = 2;
    const rulesets = rulesetsFor(plan, link.mtu);
    await ensureRuleset(ports, rulesets);
    logger.info(
      { component: 'init', event: 'ruleset_applied', backend: plan.backend, families: rulesets.map((r) => r.family) },
      'netfilter ruleset applied',
    );
    if (plan.conntrackSysctls.length > 0) {
      step = 3;
      const changed = await ensureSysctls(ports.sysctl, plan.conntrackSysctls);
      changedSysctls.push(...changed);
      logger.info({ component: 'init', event: 'conntrack_accounting_ready', changed }, 'conntrack accounting on for the audit log');
    }
    return { link, changedSysctls, rulesets };
  } catch (err) {
    throw stepError(step, err, plan.conntrackSysctls.length > 0 ? [...STEPS, 'conntrack accounting'] : STEPS);
  }
}

function stepError(step: number, err: unknown, steps: readonly string[]): GatewayError {
  const done = steps.slice(0, step);
  const notTried = steps.slice(step + 1);
  const code = isGatewayError(err) ? err.code : ErrorCodes.INTERNAL;
  const parts = [`init step ${step + 1} of ${steps.length} (${steps[step]}) failed: ${isGatewayError(err) ? err.message : describeCause(err)}`];
  if (done.length) parts.push(`already applied: ${done.join(', ')}`);
  if (notTried.length) parts.push(`not attempted: ${notTried.join(', ')}`);
  return new GatewayError(code, parts.join('; '), { cause: err });
}
