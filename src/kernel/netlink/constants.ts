/**
 * Every netlink number the project uses, in one place, named as in the kernel's uapi headers
 * (linux/netlink.h, rtnetlink.h, neighbour.h, if_link.h, if_addr.h, netfilter/nfnetlink.h). Headers
 * and attributes are in host byte order: little-endian on every platform the image is built for
 * (amd64, arm64). A new message type adds its numbers here, grouped by header.
 */

/** Netlink protocols (socket(AF_NETLINK, SOCK_RAW, protocol)). */
export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;

// linux/netlink.h: struct nlmsghdr (len u32, type u16, flags u16, seq u32, pid u32).
export const NLMSG_HDRLEN = 16;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_ECHO = 0x8;
/** GET requests: NLM_F_ROOT | NLM_F_MATCH. */
export const NLM_F_DUMP = 0x300;
/** NEW requests. */
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

// struct nlattr.
export const NLA_HDRLEN = 4;
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

// Address families.
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_BRIDGE = 7;
export const AF_INET6 = 10;

// linux/rtnetlink.h: message types.
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28;
export const RTM_DELNEIGH = 29;
export const RTM_GETNEIGH = 30;
export const RTM_NEWADDR = 20;
export const RTM_GETADDR = 22;
export const RTM_NEWRULE = 32;
export const RTM_DELRULE = 33;
export const RTM_GETRULE = 34;
export const RTM_NEWNEXTHOP = 104;
export const RTM_DELNEXTHOP = 105;
export const RTM_GETNEXTHOP = 106;
export const RTM_NEWNETCONF = 80;
export const RTM_DELNETCONF = 81;

// rtnetlink multicast groups (enum rtnetlink_groups): numbers for NETLINK_ADD_MEMBERSHIP.
export const RTNLGRP_LINK = 1;
export const RTNLGRP_NEIGH = 3;
export const RTNLGRP_IPV4_ROUTE = 7;
export const RTNLGRP_IPV6_ROUTE = 11;
export const RTNLGRP_IPV4_RULE = 8;
export const RTNLGRP_IPV6_RULE = 19;
export const RTNLGRP_NEXTHOP = 32;
/** Per-device and namespace-wide settings (forwarding, rp_filter): RTM_NEWNETCONF when one changes. */
export const RTNLGRP_IPV4_NETCONF = 24;
export const RTNLGRP_IPV6_NETCONF = 25;

// struct ifinfomsg (16 bytes): family u8, pad u8, type u16, index i32, flags u32, change u32.
export const IFINFOMSG_LEN = 16;
export const IFF_UP = 0x1;
/** The driver reports a carrier (only set while the link is administratively up). */
export const IFF_LOWER_UP = 0x10000;
export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MTU = 4;
export const IFLA_LINKINFO = 18;
export const IFLA_INFO_KIND = 1;
export const IFLA_INFO_DATA = 2;
export const IFLA_VXLAN_ID = 1;
export const IFLA_VXLAN_LINK = 3;
export const IFLA_VXLAN_LOCAL = 4;
export const IFLA_VXLAN_LEARNING = 7;
/** __be16, unlike the other integers. */
export const IFLA_VXLAN_PORT = 15;
/** An IPv6 local address makes the device send and receive VXLAN over IPv6. */
export const IFLA_VXLAN_LOCAL6 = 17;
/**
 * Per-family settings of a link: IFLA_AF_SPEC nests one attribute per address family; AF_INET's
 * nests IFLA_INET_CONF, whose attributes are net.ipv4.conf.<dev>.* by id (u32 values). Read back,
 * IFLA_INET_CONF is one array of u32, the value of id n at index n - 1.
 */
export const IFLA_AF_SPEC = 26;
export const IFLA_INET_CONF = 1;
/** enum ipv4_devconf ids (linux/ip.h) of the settings the project sets or reads. */
export const IPV4_DEVCONF = { forwarding: 1, proxy_arp: 3, rp_filter: 8, accept_local: 23, src_valid_mark: 24 } as const;

// struct rtmsg (12 bytes): family, dst_len, src_len, tos, table, protocol, scope, type u8; flags u32.
export const RTMSG_LEN = 12;
export const RT_TABLE_COMPAT = 252;
export const RT_TABLE_MAIN = 254;
export const RTN_UNICAST = 1;
export const RTN_UNREACHABLE = 7;
export const RTN_THROW = 9;
/** Tables that are the kernel's, never the agent's: unspec, default, main, local. */
export const RT_TABLE_UNSPEC = 0;
export const RT_TABLE_DEFAULT = 253;
export const RT_TABLE_LOCAL = 255;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_NOWHERE = 255;
/** In rtm_flags, not in a nexthop: the kernel copies it to the route's single nexthop. */
export const RTNH_F_ONLINK = 0x4;
export const RTA_DST = 1;
export const RTA_OIF = 4;
export const RTA_GATEWAY = 5;
export const RTA_TABLE = 15;
export const RTA_PRIORITY = 6;
export const RTA_MULTIPATH = 9;
/** The route's nexthop object (linux/rtnetlink.h, kernel 5.3+). */
export const RTA_NH_ID = 30;

// linux/fib_rules.h: struct fib_rule_hdr (12 bytes): family, dst_len, src_len, tos, table, res1,
// res2, action u8; flags u32. Tables above 255 go in FRA_TABLE.
export const FIB_RULE_HDR_LEN = 12;
export const FR_ACT_TO_TBL = 1;
export const FRA_DST = 1;
export const FRA_SRC = 2;
export const FRA_IIFNAME = 3;
export const FRA_GOTO = 4;
export const FRA_PRIORITY = 6;
export const FRA_FWMARK = 10;
export const FRA_TABLE = 15;
export const FRA_FWMASK = 16;
export const FRA_OIFNAME = 17;
export const FRA_L3MDEV = 19;
export const FRA_UID_RANGE = 20;
/** u8: who made the rule (kernel 4.17+), as rtm_protocol for routes. */
export const FRA_PROTOCOL = 21;
export const FRA_IP_PROTO = 22;
export const FRA_SPORT_RANGE = 23;
export const FRA_DPORT_RANGE = 24;

// linux/nexthop.h: struct nhmsg (8 bytes): family, scope, protocol, resvd u8; flags u32 (RTNH_F_*).
export const NHMSG_LEN = 8;
export const NHA_ID = 1;
/** struct nexthop_grp[]: { u32 id; u8 weight - 1; u8; u16 } each. */
export const NHA_GROUP = 2;
export const NHA_GROUP_TYPE = 3;
export const NHA_BLACKHOLE = 4;
export const NHA_OIF = 5;
export const NHA_GATEWAY = 6;
/** Nested (kernel 5.13+): the resilient group's parameters. */
export const NHA_RES_GROUP = 12;
export const NHA_RES_GROUP_BUCKETS = 1;
/** clock_t: USER_HZ (100) ticks a second, as the idle and unbalanced timers below. */
export const NHA_RES_GROUP_IDLE_TIMER = 2;
export const NHA_RES_GROUP_UNBALANCED_TIMER = 3;
export const NEXTHOP_GRP_TYPE_RES = 1;
export const USER_HZ = 100;

// linux/netconf.h: struct netconfmsg { u8 ncm_family } (attributes start at the next 4-byte boundary).
export const NETCONFMSG_LEN = 4;
export const NETCONFA_IFINDEX = 1;
export const NETCONFA_FORWARDING = 2;
export const NETCONFA_RP_FILTER = 3;
/** NETCONFA_IFINDEX of the namespace-wide "all" and "default" settings (net.ipv4.conf.all / .default). */
export const NETCONFA_IFINDEX_ALL = -1;
export const NETCONFA_IFINDEX_DEFAULT = -2;

// linux/if_addr.h: struct ifaddrmsg (8 bytes): family, prefixlen, flags, scope u8; index u32.
export const IFADDRMSG_LEN = 8;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;

// struct ndmsg (12 bytes): family u8, pad, pad u16, ifindex i32, state u16, flags u8, type u8.
export const NDMSG_LEN = 12;
export const NDA_DST = 1;
export const NDA_LLADDR = 2;
export const NUD_INCOMPLETE = 0x01;
export const NUD_REACHABLE = 0x02;
export const NUD_STALE = 0x04;
export const NUD_DELAY = 0x08;
export const NUD_PROBE = 0x10;
export const NUD_FAILED = 0x20;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;
export const NTF_SELF = 0x02;

// linux/netfilter/nfnetlink.h: struct nfgenmsg (4 bytes) after the header; type = subsystem << 8 | message.
export const NFGENMSG_LEN = 4;
export const NFNL_SUBSYS_CTNETLINK = 1;

// errno values the adapters act on.
export const ENOENT = 2;
export const ESRCH = 3;
export const EIO = 5;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOBUFS = 105;
export const ETIMEDOUT = 110;
