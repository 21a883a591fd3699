import { kernelError } from '../../errors';
import { NETLINK_NETFILTER } from './constants';
import { dumpConntrack } from './conntrack-events';
import { CT_DELETE_TYPE, deleteRequestPayload, type ConntrackEvent } from './conntrack';
import { NLMSG_HDRLEN, NetlinkError, NetlinkSession, encodeRequest } from './session';

/**
 * The namespace's conntrack table as something to change, not only to watch: the setup guard lists
 * it and deletes the entries of connections that were tracked without SNAT (src/init/stale-flows.ts).
 */
export interface ConntrackTable {
  /** Every entry now (a dump, both families). */
  list(): Promise<ConntrackEvent[]>;
  /**
   * Deletes these entries, each by its original tuple, zone and id. One that is gone already (ENOENT:
   * it ended, or its id now names another connection) is not an error. Resolves with how many the
   * kernel deleted; rejects with the first other error, after trying every entry.
   */
  remove(entries: readonly ConntrackEvent[]): Promise<number>;
}

const DUMP_TIMEOUT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 10_000;

/** ctnetlink on the project's netlink session; a socket per call (used rarely: after a repair). */
export class NetlinkConntrackTable implements ConntrackTable {
  list(): Promise<ConntrackEvent[]> {
    return dumpConntrack(DUMP_TIMEOUT_MS);
  }

  async remove(entries: readonly ConntrackEvent[]): Promise<number> {
    if (entries.length === 0) return 0;
    let session: NetlinkSession;
    try {
      session = new NetlinkSession({ protocol: NETLINK_NETFILTER, timeoutMs: REQUEST_TIMEOUT_MS });
    } catch (err) {
      throw kernelError('opening a NETLINK_NETFILTER socket to delete conntrack entries (needs CAP_NET_ADMIN)', err);
    }
    const wires = entries.map((e) => {
      const payload = deleteRequestPayload(e);
      const wire = encodeRequest(CT_DELETE_TYPE, 0, payload.length);
      payload.copy(wire, NLMSG_HDRLEN);
      return wire;
    });
    let results: (Error | undefined)[];
    try {
      results = await session.requestMany(wires, (i) => `deleting conntrack entry #${entries[i]?.id ?? '?'}`);
    } finally {
      session.close();
    }
    let deleted = 0;
    let failure: Error | undefined;
    for (const err of results) {
      if (err === undefined) deleted++;
      else if (!(err instanceof NetlinkError && err.code === 'ENOENT')) failure ??= err;
    }
    if (failure) throw kernelError('deleting conntrack entries', failure);
    return deleted;
  }
}
