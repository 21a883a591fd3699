import { NetlinkLinks } from '../kernel/links';
import { NftTable } from '../kernel/nft-table';
import { NetlinkPolicyRouting } from '../kernel/netlink/policy-routing';
import { NetlinkPolicyRoutingWatch } from '../kernel/netlink/policy-routing-watch';
import { LinkIndex, NetlinkFdb, NetlinkNeighbours } from '../kernel/netlink/return-path';
import { NetlinkSession } from '../kernel/netlink/session';
import { ProcSysctl } from '../kernel/sysctl';
import { NAT_EXEMPTION_TABLE } from './nat-exemption';
import { LEGACY_PINS_TABLE, PINS_TABLE } from './pins';
import type { Logger } from '../observability/logger';
import type { SteeringOptions } from './desired';
import { SteeringReconciler, type SteeringKernel, type SteeringResult, type SteeringStatus } from './reconciler';
import type { SteeringSpec } from '../model/steering';

/** The real adapters of the steering, over one rtnetlink session, in the namespace the process runs in. */
export function createSteeringKernel(): SteeringKernel & { close(): void } {
  const session = new NetlinkSession();
  const links = new LinkIndex(session);
  const netlinkLinks = new NetlinkLinks();
  const watch = new NetlinkPolicyRoutingWatch();
  return {
    policy: new NetlinkPolicyRouting(session, links),
    neighbours: new NetlinkNeighbours(session, links),
    fdb: new NetlinkFdb(session, links),
    links: netlinkLinks,
    sysctl: new ProcSysctl(),
    nat: new NftTable(NAT_EXEMPTION_TABLE.family, NAT_EXEMPTION_TABLE.name),
    pins: new NftTable(PINS_TABLE.family, PINS_TABLE.name),
    legacyPins: new NftTable(LEGACY_PINS_TABLE.family, LEGACY_PINS_TABLE.name),
    watch,
    close: () => {
      watch.close();
      netlinkLinks.close();
      session.close();
    },
  };
}

/**
 * The steering of this node's kernel as the agent uses it (its SteeringDataplane port): `apply` a
 * spec, read `status`, `close` at shutdown (the kernel state stays, so steered pods keep their
 * gateways while the agent restarts). Notifications and resyncs run from the first apply on.
 */
export function createKernelSteering(options: Partial<SteeringOptions> = {}, logger?: Logger): {
  apply(spec: SteeringSpec): Promise<void>;
  status(): SteeringStatus;
  close(): Promise<void>;
} {
  const kernel = createSteeringKernel();
  const reconciler = new SteeringReconciler({ kernel, steering: options, ...(logger ? { logger } : {}) });
  return {
    apply: (spec) => reconciler.apply(spec),
    status: () => reconciler.status(),
    close: async () => {
      await reconciler.stop();
      kernel.close();
    },
  };
}

/** Uninstall (`egress-gateway agent --teardown`): removes everything the agent owns in this namespace's kernel. */
export async function teardownKernelSteering(options: Partial<SteeringOptions> = {}, logger?: Logger): Promise<SteeringResult> {
  const kernel = createSteeringKernel();
  try {
    return await new SteeringReconciler({ kernel, steering: options, ...(logger ? { logger } : {}) }).teardown();
  } finally {
    kernel.close();
  }
}
