import { configError } from '../errors';
import { parseIp, type IpAddress } from '../model/ip';
import { egressSetting, pick, type Env } from './env';

/**
 * The configuration checked against the network namespace it runs in, before anything changes:
 * the egress address must be an address of EGRESS_INTERFACE here. Otherwise init and the daemon
 * would build vxlan0 with a local address and MAC no client node sends to (the vxlan0 guard even
 * re-created a correct vxlan0 with the wrong address), and every client's traffic would fail while
 * nothing said why. Pure: the caller passes the namespace's interfaces (os.networkInterfaces()).
 */

/** Interface name → its addresses (canonical text), as the namespace has them now. */
export type NamespaceInterfaces = ReadonlyMap<string, readonly string[]>;

/** os.networkInterfaces() as NamespaceInterfaces (an interface without addresses does not appear). */
export function namespaceInterfaces(raw: NodeJS.Dict<{ address: string }[]>): NamespaceInterfaces {
  const out = new Map<string, string[]>();
  for (const [name, addrs] of Object.entries(raw)) {
    const texts = (addrs ?? []).map((a) => parseIp(a.address.split('%')[0] ?? '')?.text).filter((t): t is string => t !== undefined);
    out.set(name, texts);
  }
  return out;
}

export interface NamespaceSettings {
  /** EGRESS_INTERFACE (or --interface), as given or defaulted. */
  readonly underlay: { readonly name: string; readonly value: string };
  /** The setting the egress addresses came from (EGRESS_POD_IPS, EGRESS_POD_IP or --pod-ip) and its value. */
  readonly egressSetting: { readonly name: string; readonly value: string | undefined };
  readonly egress: readonly IpAddress[];
  /** HEALTH_HOST when given: it must be an address of the namespace (or a wildcard). */
  readonly healthHost?: { readonly name: string; readonly value: string };
}

export function checkNamespace(s: NamespaceSettings, interfaces: NamespaceInterfaces): void {
  const addrs = interfaces.get(s.underlay.value);
  const names = [...interfaces.keys()].sort().join(', ') || 'none';
  if (addrs === undefined) {
    throw configError(s.underlay.name, s.underlay.value, `no interface of that name has an address in this network namespace (interfaces with addresses: ${names})`);
  }
  for (const ip of s.egress) {
    if (addrs.includes(ip.text)) continue;
    const elsewhere = [...interfaces].find(([, list]) => list.includes(ip.text))?.[0];
    const where = elsewhere ? `it is on ${elsewhere}, not on ${s.underlay.value}` : `no interface here has it; ${s.underlay.value} has ${addrs.join(', ') || 'no address'}`;
    throw configError(s.egressSetting.name, s.egressSetting.value, `${ip.text} is not an address of ${s.underlay.value} (${s.underlay.name}) in this network namespace: ${where}. vxlan0 and the SNAT need the pod's own address on its underlay interface`);
  }
  const host = s.healthHost;
  if (host) {
    const ip = parseIp(host.value);
    const wildcard = ip !== undefined && ip.bytes.every((b) => b === 0);
    if (ip && !wildcard && ![...interfaces.values()].some((list) => list.includes(ip.text))) {
      throw configError(host.name, host.value, `${ip.text} is not an address of this network namespace: the health server could not listen on it`);
    }
  }
}

/**
 * The settings to check, read the way the command's parser read them (so messages name the variable
 * or flag the value came from). `underlay` and `egress` are the parsed values.
 */
export function namespaceSettings(
  env: Env,
  flags: { readonly podIp?: string; readonly interface?: string; readonly healthHost?: string },
  parsed: { readonly underlay: string; readonly egress: readonly IpAddress[]; readonly healthServer: boolean },
): NamespaceSettings {
  const underlay = pick(env, 'EGRESS_INTERFACE', { name: '--interface', value: flags.interface });
  // Only the daemon runs a health server (HEALTH_PORT=0: none), so only it reads HEALTH_HOST.
  const host = parsed.healthServer ? pick(env, 'HEALTH_HOST', { name: '--health-host', value: flags.healthHost }) : { name: '', value: undefined };
  return {
    underlay: { name: underlay.name, value: parsed.underlay },
    egressSetting: egressSetting(env, { name: '--pod-ip', value: flags.podIp }),
    egress: parsed.egress,
    ...(host.value !== undefined ? { healthHost: { name: host.name, value: host.value } } : {}),
  };
}
