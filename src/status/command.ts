import type { Env } from '../config/env';
import { ErrorCodes, GatewayError, describeCause } from '../errors';
import { fetchEntries, fetchStatus } from './client';
import { checkEntriesFilter, renderEntriesTable } from './entries';
import { parseStatusSocket } from './config';
import { renderStatusTable } from './render';
import { renderAgentStatusTable } from '../agent/status';

/** Flags of `egress-gateway status`. */
export interface StatusFlags {
  readonly json?: boolean;
  readonly socket?: string;
  /** List what is programmed, entry by entry, with the node each is for. */
  readonly entries?: boolean;
  /** Only the routes overlapping this CIDR, and their nodes' neighbours and FDB entries (implies --entries). */
  readonly block?: string;
  /** Only the entries of this client node (implies --entries). */
  readonly node?: string;
}

/** Exit statuses of `status` (3, could not reach the daemon, comes from the DAEMON_UNREACHABLE error). */
export const STATUS_EXIT = { ready: 0, notReady: 1 } as const;

/**
 * `egress-gateway status`: asks the running daemon over its local socket and prints the table (or
 * the JSON document with --json). 0 when the daemon answered and is ready, 1 when it answered and
 * is not ready; a daemon that cannot be reached throws DAEMON_UNREACHABLE (exit 3 in the CLI).
 */
export async function runStatusCommand(flags: StatusFlags, env: Env, write: (text: string) => void): Promise<number> {
  const socket = parseStatusSocket(env, { name: '--socket', value: flags.socket });
  if (flags.entries || flags.block !== undefined || flags.node !== undefined) {
    const filter = { ...(flags.block !== undefined ? { block: flags.block } : {}), ...(flags.node !== undefined ? { node: flags.node } : {}) };
    try {
      checkEntriesFilter(filter);
    } catch (err) {
      throw new GatewayError(ErrorCodes.CONFIG_INVALID, describeCause(err));
    }
    const listing = await fetchEntries(socket, filter);
    write(flags.json ? `${JSON.stringify(listing, null, 2)}\n` : renderEntriesTable(listing));
    return listing.ready ? STATUS_EXIT.ready : STATUS_EXIT.notReady;
  }
  const doc = await fetchStatus(socket);
  // The OSS node agent answers on the same socket protocol with its own document.
  const render = (doc as { role?: unknown }).role === 'agent' ? renderAgentStatusTable : renderStatusTable;
  write(flags.json ? `${JSON.stringify(doc, null, 2)}\n` : render(doc as never));
  return doc.ready ? STATUS_EXIT.ready : STATUS_EXIT.notReady;
}
