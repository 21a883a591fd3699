import type { FelixRoute, FelixVtep } from '../model/felix';
import type { SteeringSpec } from '../model/steering';

/**
 * The agent's two outputs, behind small interfaces: the control plane (this folder) computes, these
 * program. Real adapters: the client node's kernel steering (agent-dataplane's reconciler) and the
 * PolicySync server of src/policysync/server.ts; fakes in tests.
 */

/** Programs this node's steering. `apply` is called again and again; the same spec twice changes nothing the second time. */
export interface SteeringDataplane {
  /** Resolves once the kernel holds the spec; rejects (a coded error) when part of it could not be programmed. */
  apply(spec: SteeringSpec): Promise<void>;
  /** What it holds, for `status` (route tables and the pods and gateways in each), when it can tell. */
  status?(): unknown;
  close?(): Promise<void> | void;
}

/**
 * The route feed the gateways on this node subscribe to (felix.PolicySync/Sync, l3-routes): the
 * shape of src/policysync/server.ts's PolicySyncServer. Until `inSync()` is first called a new
 * stream gets nothing; after, a snapshot, in_sync, then the differences each `replace()` makes.
 */
export interface RouteFeedServer {
  start(): Promise<void>;
  close(): Promise<void>;
  replace(routes: readonly FelixRoute[], vteps: readonly FelixVtep[]): void;
  inSync(): void;
  /** Open streams and the like, for `status`, when it can tell. */
  stats?(): unknown;
}
