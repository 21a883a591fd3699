import { parseMessages, Protocol, RawNetlinkSocket } from 'netlink';
import { kernelError } from '../../errors';
import type { PolicyRoutingWatch } from '../policy-routing';
import { RETURN_PATH_ROUTE_PROTOCOL } from '../return-path';
import { parseAttributes, stringAttribute } from './attributes';
import { decodeRule, decodeTableRoute } from './policy-routing';

/**
 * Kernel notifications that may concern the agent's steering, on one NETLINK_ROUTE socket joined to
 * the link, neighbour, IPv4/IPv6 route and rule, and nexthop groups: the steering reconciler
 * repairs drift when something changes rather than polling. Only notifications about what the
 * agent owns get through (its protocol on rules, routes and nexthops; its device and the permanent
 * neighbour and FDB entries on it), so Felix's own churn on a busy node costs no pass.
 */

const RTNLGRP_LINK = 1;
const RTNLGRP_NEIGH = 3;
const RTNLGRP_IPV4_ROUTE = 7;
const RTNLGRP_IPV4_RULE = 8;
const RTNLGRP_IPV6_ROUTE = 11;
const RTNLGRP_IPV6_RULE = 19;
const RTNLGRP_NEXTHOP = 32;

const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_GETLINK = 18;
const RTM_NEWROUTE = 24;
const RTM_DELROUTE = 25;
const RTM_NEWNEIGH = 28;
const RTM_DELNEIGH = 29;
const RTM_NEWRULE = 32;
const RTM_DELRULE = 33;
const RTM_NEWNEXTHOP = 104;
const RTM_DELNEXTHOP = 105;

const IFLA_IFNAME = 3;
const NLMSG_HDRLEN = 16;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const ENOBUFS = 105;

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
        if (data.length < 16) return undefined;
        const name = parseAttributes(data.subarray(16), 'lenient').get(IFLA_IFNAME);
        if (!name || stringAttribute(name) !== this.device) return undefined;
        const index = data.readInt32LE(4);
        const before = this.deviceIndex;
        this.deviceIndex = type === RTM_NEWLINK ? index : undefined;
        // The dump at subscription time and the kernel's own link updates repeat what is known.
        if (type === RTM_NEWLINK && before === index) return undefined;
        return type === RTM_NEWLINK ? `${this.device} appeared` : `${this.device} deleted`;
      }
      case RTM_NEWNEIGH:
      case RTM_DELNEIGH:
        if (data.length < 12 || this.deviceIndex === undefined || data.readInt32LE(4) !== this.deviceIndex) return undefined;
        return type === RTM_NEWNEIGH ? `neighbour or FDB entry changed on ${this.device}` : `neighbour or FDB entry deleted on ${this.device}`;
      case RTM_NEWROUTE:
      case RTM_DELROUTE:
        return decodeTableRoute(data, this.protocol) ? (type === RTM_NEWROUTE ? 'route added' : 'route deleted') : undefined;
      case RTM_NEWRULE:
      case RTM_DELRULE:
        return decodeRule(data, this.protocol) ? (type === RTM_NEWRULE ? 'rule added' : 'rule deleted') : undefined;
      case RTM_NEWNEXTHOP:
      case RTM_DELNEXTHOP:
        if (data.length < 8 || data.readUInt8(2) !== this.protocol) return undefined;
        return type === RTM_NEWNEXTHOP ? 'nexthop changed' : 'nexthop deleted';
      default:
        return undefined;
    }
  }
}

export class NetlinkPolicyRoutingWatch implements PolicyRoutingWatch {
  private socket: RawNetlinkSocket | undefined;

  watch(device: string, h: { onChange(what: string): void; onError(err: Error): void }): void {
    if (this.socket) throw new Error('policy routing watch: already watching');
    let socket: RawNetlinkSocket;
    try {
      socket = new RawNetlinkSocket(Protocol.ROUTE, { recvBufferSize: 1 << 20, sendBufferSize: 0 });
    } catch (err) {
      throw kernelError('opening a NETLINK_ROUTE socket for routing events', err);
    }
    try {
      for (const g of [RTNLGRP_LINK, RTNLGRP_NEIGH, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV6_RULE, RTNLGRP_NEXTHOP]) {
        socket.addMembership(g);
      }
    } catch (err) {
      socket.close();
      throw kernelError('joining the rtnetlink multicast groups (link, neighbour, route, rule, nexthop)', err);
    }
    const filter = new SteeringEventFilter(device);
    socket.on('message', (datagram: Buffer) => {
      let messages;
      try {
        messages = parseMessages(datagram);
      } catch (err) {
        h.onError(kernelError('reading a routing event', err));
        return;
      }
      for (const m of messages) {
        let why: string | undefined;
        try {
          why = filter.relevant(m.type, m.data);
        } catch (err) {
          h.onError(kernelError('decoding a routing event', err));
          continue;
        }
        if (why) h.onChange(why);
      }
    });
    socket.on('error', (err) => {
      const overrun = err.errno === ENOBUFS || err.code === 'ENOBUFS';
      h.onError(kernelError(overrun ? 'reading routing events (events were lost)' : 'reading routing events', err));
    });
    socket.unref();
    this.socket = socket;
    // One link dump on the same socket teaches the filter the device's index before any neighbour event.
    const msg = Buffer.alloc(NLMSG_HDRLEN + 16);
    msg.writeUInt32LE(msg.length, 0);
    msg.writeUInt16LE(RTM_GETLINK, 4);
    msg.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
    msg.writeUInt32LE(1, 8);
    socket.send(msg, { port: 0 }, (err) => {
      if (err) h.onError(kernelError('listing links (RTM_GETLINK dump)', err));
    });
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }
}
