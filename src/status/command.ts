import type { Env } from '../config/env';
import { fetchStatus } from './client';
import { parseStatusSocket } from './config';
import { renderStatusTable } from './render';
import { renderAgentStatusTable } from '../agent/status';

/** Flags of `egress-gateway status`. */
export interface StatusFlags {
  readonly json?: boolean;
  readonly socket?: string;
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
  const doc = await fetchStatus(socket);
  // The OSS node agent answers on the same socket protocol with its own document.
  const render = (doc as { role?: unknown }).role === 'agent' ? renderAgentStatusTable : renderStatusTable;
  write(flags.json ? `${JSON.stringify(doc, null, 2)}\n` : render(doc as never));
  return doc.ready ? STATUS_EXIT.ready : STATUS_EXIT.notReady;
}
