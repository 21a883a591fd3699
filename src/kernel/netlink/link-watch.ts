import { parseMessages, Protocol, RawNetlinkSocket } from 'netlink';
import { kernelError } from '../../errors';
import type { LinkCarrier, LinkWatch, LinkWatchHandlers } from '../ports';
import { parseAttributes, stringAttribute } from './attributes';

/**
 * Link events over rtnetlink: one NETLINK_ROUTE socket that joins RTNLGRP_LINK and, on the same
 * socket, asks for one RTM_GETLINK dump. Both arrive in the kernel's order on one socket, so the
 * dump is the state at some point of the event stream and each later event is newer than it:
 * nothing can be missed between "listed" and "subscribed". A lost event (ENOBUFS) is answered with
 * a fresh dump.
 */

const RTNLGRP_LINK = 1;
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_GETLINK = 18;
const NLMSG_HDRLEN = 16;
const IFINFOMSG_LEN = 16;
const IFLA_IFNAME = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
/** The driver reports a carrier (only set while the link is administratively up). */
const IFF_LOWER_UP = 0x10000;
const ENOBUFS = 105;

/** The carrier a link message reports, or undefined for any other message. */
export function decodeLinkCarrier(type: number, data: Buffer): LinkCarrier | undefined {
  if ((type !== RTM_NEWLINK && type !== RTM_DELLINK) || data.length < IFINFOMSG_LEN) return undefined;
  const index = data.readInt32LE(4);
  const flags = data.readUInt32LE(8);
  // The project's one attribute parser, as the return path's link index reads the same messages.
  const ifname = parseAttributes(data.subarray(IFINFOMSG_LEN), 'lenient').get(IFLA_IFNAME);
  if (ifname === undefined) return undefined;
  return { name: stringAttribute(ifname), index, carrier: type === RTM_NEWLINK && (flags & IFF_LOWER_UP) !== 0 };
}

export class NetlinkLinkWatch implements LinkWatch {
  private socket: RawNetlinkSocket | undefined;
  private seq = Math.floor(Math.random() * 0x7fffffff) + 1;

  watch(h: LinkWatchHandlers): void {
    if (this.socket) throw new Error('link watch: already watching');
    let socket: RawNetlinkSocket;
    try {
      socket = new RawNetlinkSocket(Protocol.ROUTE, { recvBufferSize: 256 * 1024, sendBufferSize: 0 });
    } catch (err) {
      throw kernelError('opening a NETLINK_ROUTE socket for link events', err);
    }
    try {
      socket.addMembership(RTNLGRP_LINK);
    } catch (err) {
      socket.close();
      throw kernelError('joining the rtnetlink link multicast group', err);
    }
    socket.on('message', (datagram: Buffer) => {
      let messages;
      try {
        messages = parseMessages(datagram);
      } catch (err) {
        h.onError(kernelError('reading a link event', err));
        return;
      }
      for (const m of messages) {
        let link: LinkCarrier | undefined;
        try {
          link = decodeLinkCarrier(m.type, m.data);
        } catch (err) {
          h.onError(kernelError('decoding a link event', err));
          continue;
        }
        if (link) h.onLink(link);
      }
    });
    socket.on('error', (err) => {
      const overrun = err.errno === ENOBUFS || err.code === 'ENOBUFS';
      h.onError(kernelError(overrun ? 'reading link events (events were lost; listing the links again)' : 'reading link events', err));
      if (overrun) this.list(h);
    });
    // The daemon's other parts keep the process alive; a watch alone must not.
    socket.unref();
    this.socket = socket;
    this.list(h);
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }

  /** Asks for every link; the replies come through the same 'message' handler as events. */
  private list(h: LinkWatchHandlers): void {
    const socket = this.socket;
    if (!socket) return;
    const msg = Buffer.alloc(NLMSG_HDRLEN + IFINFOMSG_LEN);
    msg.writeUInt32LE(msg.length, 0);
    msg.writeUInt16LE(RTM_GETLINK, 4);
    msg.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
    this.seq = this.seq >= 0x7ffffffe ? 1 : this.seq + 1;
    msg.writeUInt32LE(this.seq, 8);
    socket.send(msg, { port: 0 }, (err) => {
      if (err) h.onError(kernelError('listing links (RTM_GETLINK dump)', err));
    });
  }
}
