import { kernelError } from '../../errors';
import type { SysctlWatch } from '../ports';
import { decodeNetconf, type NetconfMessage } from './codec';
import { AF_INET, AF_INET6, RTM_NEWNETCONF, RTNLGRP_IPV4_NETCONF, RTNLGRP_IPV6_NETCONF } from './constants';
import { NetlinkSession } from './session';

/**
 * Forwarding and rp_filter changes, pushed by the kernel: the IPv4 and IPv6 netconf groups get an
 * RTM_NEWNETCONF whenever net.ipv4.ip_forward, net.ipv4.conf.<dev|all|default>.forwarding or
 * .rp_filter, or net.ipv6.conf.<...>.forwarding is written with a new value (and when a device
 * comes, with all its settings). Every sysctl init sets is one of these, so the setup guard reads
 * them when one changes instead of every two seconds.
 */

/** The change a notice reports, for the log; undefined for one that reports neither setting. */
export function describeNetconf(m: NetconfMessage): string | undefined {
  const family = m.family === AF_INET ? 'ipv4' : m.family === AF_INET6 ? 'ipv6' : undefined;
  if (!family || (m.forwarding === undefined && m.rpFilter === undefined)) return undefined;
  const where = typeof m.device === 'number' ? `conf.(ifindex ${m.device})` : `conf.${m.device ?? '?'}`;
  const values = [
    ...(m.forwarding !== undefined ? [`forwarding=${m.forwarding}`] : []),
    ...(m.rpFilter !== undefined ? [`rp_filter=${m.rpFilter}`] : []),
  ];
  return `net.${family}.${where}: ${values.join(' ')}`;
}

export class NetlinkNetconfWatch implements SysctlWatch {
  private session: NetlinkSession | undefined;

  watch(h: { onChange(what: string): void; onError(err: Error): void }): void {
    if (this.session) throw new Error('netconf watch: already watching');
    let session: NetlinkSession;
    try {
      session = new NetlinkSession({ recvBufferSize: 64 * 1024 });
    } catch (err) {
      throw kernelError('opening a NETLINK_ROUTE socket for netconf events', err);
    }
    try {
      session.subscribe([RTNLGRP_IPV4_NETCONF, RTNLGRP_IPV6_NETCONF], {
        onMessage: (m) => {
          if (m.type !== RTM_NEWNETCONF) return;
          let what: string | undefined;
          try {
            const decoded = decodeNetconf(m.data);
            what = decoded && describeNetconf(decoded);
          } catch (err) {
            h.onError(kernelError('decoding a netconf event', err));
            return;
          }
          if (what) h.onChange(what);
        },
        onOverrun: () => h.onChange('netconf events that were lost (receive buffer overrun)'),
        onError: (err) => h.onError(kernelError('reading netconf events', err)),
      });
    } catch (err) {
      session.close();
      throw kernelError('joining the rtnetlink netconf multicast groups', err);
    }
    this.session = session;
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}
