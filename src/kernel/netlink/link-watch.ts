import { kernelError } from '../../errors';
import type { LinkCarrier } from '../../model/link';
import type { LinkWatch, LinkWatchHandlers } from '../ports';
import { decodeLink, linkPayload } from './codec';
import { IFF_LOWER_UP, RTM_DELLINK, RTM_GETLINK, RTM_NEWLINK, RTNLGRP_LINK } from './constants';
import { NetlinkSession, type NetlinkReply } from './session';

/**
 * Link events over rtnetlink: one session that joins RTNLGRP_LINK and then lists every link with
 * one RTM_GETLINK dump on the same socket. Events that arrive while the dump is under way are held
 * and reported after it: each carries a link's whole state, and one that came after a dump entry is
 * newer than it, so nothing is missed between "listed" and "subscribed" and nothing older wins. A
 * lost event (ENOBUFS) is answered with a fresh dump.
 */

/** The carrier a link message reports, or undefined for any other message. */
export function decodeLinkCarrier(type: number, data: Buffer): LinkCarrier | undefined {
  if (type !== RTM_NEWLINK && type !== RTM_DELLINK) return undefined;
  const link = decodeLink(data);
  if (link?.name === undefined) return undefined;
  return {
    name: link.name,
    index: link.index,
    carrier: type === RTM_NEWLINK && (link.flags & IFF_LOWER_UP) !== 0,
    ...(link.mtu !== undefined ? { mtu: link.mtu } : {}),
  };
}

export class NetlinkLinkWatch implements LinkWatch {
  private session: NetlinkSession | undefined;
  /** Events held while a listing is under way; undefined when none is. */
  private held: NetlinkReply[] | undefined;

  watch(h: LinkWatchHandlers): void {
    if (this.session) throw new Error('link watch: already watching');
    let session: NetlinkSession;
    try {
      session = new NetlinkSession({ recvBufferSize: 256 * 1024 });
    } catch (err) {
      throw kernelError('opening a NETLINK_ROUTE socket for link events', err);
    }
    const report = (m: NetlinkReply): void => {
      let link: LinkCarrier | undefined;
      try {
        link = decodeLinkCarrier(m.type, m.data);
      } catch (err) {
        h.onError(kernelError('decoding a link event', err));
        return;
      }
      if (link) h.onLink(link);
    };
    try {
      session.subscribe([RTNLGRP_LINK], {
        onMessage: (m) => {
          if (this.held) this.held.push(m);
          else report(m);
        },
        onOverrun: () => {
          h.onError(kernelError('reading link events (events were lost; listing the links again)', new Error('ENOBUFS')));
          this.list(h, report);
        },
        onError: (err) => h.onError(kernelError('reading link events', err)),
      });
    } catch (err) {
      session.close();
      throw kernelError('joining the rtnetlink link multicast group', err);
    }
    this.session = session;
    this.list(h, report);
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
    this.held = undefined;
  }

  /** Lists every link, then the events held meanwhile, in the order they came. */
  private list(h: LinkWatchHandlers, report: (m: NetlinkReply) => void): void {
    const session = this.session;
    if (!session || this.held) return;
    const held: NetlinkReply[] = [];
    this.held = held;
    const release = (): void => {
      if (this.held !== held) return;
      this.held = undefined;
      for (const m of held) report(m);
    };
    session.dump(RTM_GETLINK, linkPayload({}), 'RTM_GETLINK dump').then(
      (replies) => {
        if (this.session !== session) return;
        for (const r of replies) report(r);
        release();
      },
      (err: unknown) => {
        if (this.session !== session) return;
        h.onError(kernelError('listing links (RTM_GETLINK dump)', err));
        release();
      },
    );
  }
}
