// Placeholder until the init phase lands (issue 2); replaced by its real implementation.
import { GatewayError, ErrorCodes } from '../errors';
export interface InitFlags {
  podIp?: string;
  vni?: string;
  vxlanPort?: string;
  iptablesBackend?: string;
  dataplane?: string;
  interface?: string;
  logSeverity?: string;
  dryRun?: boolean;
}
export async function runInitCommand(_flags: InitFlags, _env: NodeJS.ProcessEnv): Promise<void> {
  throw new GatewayError(ErrorCodes.INTERNAL, 'init is not built yet');
}
