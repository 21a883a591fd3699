import { kernelError } from '../../errors';
import type { ReturnPathWatch, ReturnPathWatchHandlers } from '../ports';
import { MAIN_TABLE, RETURN_PATH_ROUTE_PROTOCOL } from '../return-path';
import { decodeLink, decodeNeighbour, decodeRoute, linkPayload } from './codec';
import {
  AF_BRIDGE,
  NTF_SELF,
  NUD_PERMANENT,
  RTM_DELLINK,
  RTM_DELNEIGH,
  RTM_DELROUTE,
  RTM_GETLINK,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
  RTM_NEWROUTE,
  RTNLGRP_IPV4_ROUTE,
  RTNLGRP_IPV6_ROUTE,
  RTNLGRP_LINK,
  RTNLGRP_NEIGH,
} from './constants';
import { NetlinkSession, type NetlinkReply } from './session';

/**
 * Route and neighbour notifications about the gateway's own entries: routes of its protocol in the
 * main table, permanent neighbours and `self` FDB entries on vxlan0 (whose index it follows through
 * the link group). Anything else the kernel reports is not ours and is ignored. The reconciler
 * leaves the groups while it writes (`pause`): the notifications of its own changes would only tell
 * it what it did; a change by someone else in that window is caught by the periodic resync.
 */
export class NetlinkReturnPathWatch implements ReturnPathWatch {
  private session: NetlinkSession | undefined;
  /** vxlan0's index; -1 while it does not exist. */
  private deviceIndex = -1;

  constructor(private readonly protocol = RETURN_PATH_ROUTE_PROTOCOL) {}

  watch(device: string, h: ReturnPathWatchHandlers): void {
    if (this.session) throw new Error('return path watch: already watching');
    let session: NetlinkSession;
    try {
      session = new NetlinkSession({ recvBufferSize: 1 << 20 });
    } catch (err) {
      throw kernelError('opening a NETLINK_ROUTE socket for route and neighbour events', err);
    }
    try {
      session.subscribe([RTNLGRP_LINK, RTNLGRP_NEIGH, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE], {
        onMessage: (m) => {
          let what: string | undefined;
          try {
            what = this.concerns(device, m);
          } catch (err) {
            h.onError(kernelError('decoding a route or neighbour event', err));
            return;
          }
          if (what) h.onChange(what);
        },
        onOverrun: () => h.onChange('events that were lost (receive buffer overrun)'),
        onError: (err) => h.onError(kernelError('reading route and neighbour events', err)),
      });
    } catch (err) {
      session.close();
      throw kernelError('joining the rtnetlink route and neighbour multicast groups', err);
    }
    this.session = session;
    session.query(RTM_GETLINK, 0, linkPayload({ name: device }), `RTM_GETLINK ${device}`).then(
      (replies) => {
        for (const r of replies) {
          const link = r.type === RTM_NEWLINK ? decodeLink(r.data) : undefined;
          if (link) this.deviceIndex = link.index;
        }
      },
      // No vxlan0 yet: its link notification will give the index.
      () => undefined,
    );
  }

  pause(): void {
    this.session?.listen(false);
  }

  resume(): void {
    this.session?.listen(true);
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  /** What of ours the notification says changed, or undefined when it is not about ours. */
  private concerns(device: string, m: NetlinkReply): string | undefined {
    switch (m.type) {
      case RTM_NEWLINK:
      case RTM_DELLINK: {
        const link = decodeLink(m.data);
        if (link?.name === device) this.deviceIndex = m.type === RTM_NEWLINK ? link.index : -1;
        return undefined;
      }
      case RTM_NEWROUTE:
      case RTM_DELROUTE: {
        const r = m.data.length >= 8 && m.data.readUInt8(5) === this.protocol ? decodeRoute(m.data) : undefined;
        if (!r || r.table !== MAIN_TABLE) return undefined;
        return `route ${r.dst?.text ?? 'default'}/${r.dstLen} (${m.type === RTM_NEWROUTE ? 'added or changed' : 'deleted'})`;
      }
      case RTM_NEWNEIGH:
      case RTM_DELNEIGH: {
        const n = decodeNeighbour(m.data);
        if (!n || n.ifindex !== this.deviceIndex) return undefined;
        const gone = m.type === RTM_DELNEIGH;
        if (n.family === AF_BRIDGE) {
          if (!(n.flags & NTF_SELF) || (!gone && !(n.state & NUD_PERMANENT))) return undefined;
          return `fdb entry ${n.lladdr ?? '?'} on ${device} (${gone ? 'deleted' : 'added or changed'})`;
        }
        if (!gone && !(n.state & NUD_PERMANENT)) return undefined;
        return `neighbour ${n.dst?.text ?? '?'} on ${device} (${gone ? 'deleted' : 'added or changed'})`;
      }
      default:
        return undefined;
    }
  }
}
