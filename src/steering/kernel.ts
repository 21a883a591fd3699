import { NetlinkLinks } from '../kernel/links';
import { NftTable } from '../kernel/nft-table';
import { NetlinkPolicyRouting } from '../kernel/netlink/policy-routing';
import { NetlinkPolicyRoutingWatch } from '../kernel/netlink/policy-routing-watch';
import { LinkIndex, NetlinkFdb, NetlinkNeighbours } from '../kernel/netlink/return-path';
import { NetlinkSession } from '../kernel/netlink/session';
import { ProcSysctl } from '../kernel/sysctl';
import { NAT_EXEMPTION_TABLE } from './nat-exemption';
import type { SteeringKernel } from './reconciler';

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
    watch,
    close: () => {
      watch.close();
      netlinkLinks.close();
      session.close();
    },
  };
}
