// Placeholder until the daemon lands (issue 3); replaced by its real implementation.
import { GatewayError, ErrorCodes } from './errors';
export interface StartFlags {
  socketPath?: string;
  podIp?: string;
  healthPort?: string;
  healthHost?: string;
  resyncInterval?: string;
  logSeverity?: string;
}
export async function runStartCommand(_flags: StartFlags, _env: NodeJS.ProcessEnv): Promise<number> {
  throw new GatewayError(ErrorCodes.INTERNAL, 'start is not built yet');
}
