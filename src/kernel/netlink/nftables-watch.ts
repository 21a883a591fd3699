import { Protocol, RawNetlinkSocket } from 'netlink';
import { kernelError } from '../../errors';

/**
 * "Something in nf_tables changed", pushed by the kernel: a NETLINK_NETFILTER socket in the
 * NFNLGRP_NFTABLES group hears every change of the namespace's nf_tables ruleset (a rule, chain or
 * table added or deleted, with `nft` or with iptables-nft, which is nf_tables underneath). The
 * messages are not decoded: the reader compares what we own afterwards, so any change is a reason to
 * look. iptables-legacy (x_tables) sends no such events; its rules have to be polled.
 */
export interface RulesetWatch {
  /** Subscribes; throws a coded error when the kernel refuses (needs CAP_NET_ADMIN). */
  watch(handlers: { onChange(): void; onError(err: Error): void }): void;
  close(): void;
}

const NFNLGRP_NFTABLES = 7;
const ENOBUFS = 105;

export class NetlinkNftablesWatch implements RulesetWatch {
  private socket: RawNetlinkSocket | undefined;

  watch(h: { onChange(): void; onError(err: Error): void }): void {
    if (this.socket) throw new Error('nftables watch: already watching');
    let socket: RawNetlinkSocket;
    try {
      socket = new RawNetlinkSocket(Protocol.NETFILTER, { recvBufferSize: 256 * 1024, sendBufferSize: 0 });
    } catch (err) {
      throw kernelError('opening a NETLINK_NETFILTER socket for nf_tables events', err);
    }
    try {
      socket.addMembership(NFNLGRP_NFTABLES);
    } catch (err) {
      socket.close();
      throw kernelError('joining the nf_tables multicast group (needs CAP_NET_ADMIN)', err);
    }
    socket.on('message', () => h.onChange());
    socket.on('error', (err) => {
      // Lost events still mean something changed: look.
      if (err.errno === ENOBUFS || err.code === 'ENOBUFS') h.onChange();
      else h.onError(kernelError('reading nf_tables events', err));
    });
    socket.unref();
    this.socket = socket;
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }
}
