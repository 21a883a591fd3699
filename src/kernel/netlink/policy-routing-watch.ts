import { kernelError } from '../../errors';
import type { PolicyRoutingWatch } from '../policy-routing';
import { RETURN_PATH_ROUTE_PROTOCOL } from '../return-path';
import { decodeLink, decodeNexthop, decodeRoute, decodeRule, linkPayload } from './codec';
import {
  NDMSG_LEN,
  RTM_DELLINK,
  RTM_DELNEIGH,
  RTM_DELNEXTHOP,
  RTM_DELROUTE,
  RTM_DELRULE,
  RTM_GETLINK,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWNEXTHOP,
  RTM_NEWROUTE,
  RTM_NEWRULE,
  RTNLGRP_IPV4_ROUTE,
  RTNLGRP_IPV4_RULE,
  RTNLGRP_IPV6_ROUTE,
  RTNLGRP_IPV6_RULE,
  RTNLGRP_LINK,
  RTNLGRP_NEIGH,
  RTNLGRP_NEXTHOP,
} from './constants';
import { ruleEntryOf, tableRouteEntryOf } from './policy-routing';
import { NetlinkSession } from './session';

/**
 * Kernel notifications that may concern the agent's steering, on one session joined to the link,
 * neighbour, IPv4/IPv6 route and rule, and nexthop groups: the steering reconciler repairs drift
 * when something changes rather than polling. Only notifications about what the agent owns get
 * through (its protocol on rules, routes and nexthops; its device and the neighbour and FDB
 * entries on it), so Felix's own churn on a busy node costs no pass.
 */

/** What one notification means for the agent: a short reason, or undefined when it is none of its business. */
export class SteeringEventFilter {
  /** The device's current index, learned from link messages (it changes when the device is re-created). */
  private deviceIndex: number | undefined;

  constructor(
    private readonly device: string,
    private readonly protocol = RETURN_PATH_ROUTE_PROTOCOL,
  ) {}

  relevant(type: number, data: Buffer): string | undefined {
    switch (type) {
      case RTM_NEWLINK:
      case RTM_DELLINK: {
        const link = decodeLink(data);
        if (!link || link.name !== this.device) return undefined;
        const before = this.deviceIndex;
        this.deviceIndex = type === RTM_NEWLINK ? link.index : undefined;
        // The listing at subscription time and the kernel's own link updates repeat what is known.
        if (type === RTM_NEWLINK && before === link.index) return undefined;
        return type === RTM_NEWLINK ? `${this.device} appeared` : `${this.device} deleted`;
      }
      case RTM_NEWNEIGH:
      case RTM_DELNEIGH:
        if (data.length < NDMSG_LEN || this.deviceIndex === undefined || data.readInt32LE(4) !== this.deviceIndex) return undefined;
        return type === RTM_NEWNEIGH ? `neighbour or FDB entry changed on ${this.device}` : `neighbour or FDB entry deleted on ${this.device}`;
      case RTM_NEWROUTE:
      case RTM_DELROUTE: {
        const m = decodeRoute(data);
        return m && tableRouteEntryOf(m, this.protocol, () => undefined) ? (type === RTM_NEWROUTE ? 'route added' : 'route deleted') : undefined;
      }
      case RTM_NEWRULE:
      case RTM_DELRULE: {
        const m = decodeRule(data);
        return m && ruleEntryOf(m, this.protocol) ? (type === RTM_NEWRULE ? 'rule added' : 'rule deleted') : undefined;
      }
      case RTM_NEWNEXTHOP:
      case RTM_DELNEXTHOP:
        if (decodeNexthop(data)?.protocol !== this.protocol) return undefined;
        return type === RTM_NEWNEXTHOP ? 'nexthop changed' : 'nexthop deleted';
      default:
        return undefined;
    }
  }
}

export class NetlinkPolicyRoutingWatch implements PolicyRoutingWatch {
  private session: NetlinkSession | undefined;

  watch(device: string, h: { onChange(what: string): void; onError(err: Error): void }): void {
    if (this.session) throw new Error('policy routing watch: already watching');
    let session: NetlinkSession;
    try {
      session = new NetlinkSession({ recvBufferSize: 1 << 20 });
    } catch (err) {
      throw kernelError('opening a NETLINK_ROUTE socket for routing events', err);
    }
    const filter = new SteeringEventFilter(device);
    const hear = (type: number, data: Buffer): void => {
      let why: string | undefined;
      try {
        why = filter.relevant(type, data);
      } catch (err) {
        h.onError(kernelError('decoding a routing event', err));
        return;
      }
      if (why) h.onChange(why);
    };
    try {
      session.subscribe([RTNLGRP_LINK, RTNLGRP_NEIGH, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV6_RULE, RTNLGRP_NEXTHOP], {
        onMessage: (m) => hear(m.type, m.data),
        // Lost events: the caller reads everything again.
        onOverrun: () => h.onError(kernelError('reading routing events (events were lost)', new Error('ENOBUFS'))),
        onError: (err) => h.onError(kernelError('reading routing events', err)),
      });
    } catch (err) {
      session.close();
      throw kernelError('joining the rtnetlink multicast groups (link, neighbour, route, rule, nexthop)', err);
    }
    this.session = session;
    // One link listing teaches the filter the device's index before any neighbour event.
    session.dump(RTM_GETLINK, linkPayload({}), 'RTM_GETLINK dump').then(
      (links) => links.forEach((l) => hear(l.type, l.data)),
      (err: unknown) => h.onError(kernelError('listing links (RTM_GETLINK dump)', err)),
    );
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}
