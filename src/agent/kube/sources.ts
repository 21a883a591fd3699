import type * as K8s from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { ErrorCodes, GatewayError, describeCause } from '../../errors';
import type { Clock } from '../../model/clock';
import type { Logger } from '../../observability/logger';
import { ResourceWatch, type ClientNode, type WatchHandlers, type WatchStats, type WatchTarget } from './watch';

/**
 * Where the agent's watches come from: the real client library with a kubeconfig (KUBECONFIG, else
 * the pod's in-cluster service account). One KubeConfig and one client module for every watch.
 */
export interface WatchFactory {
  create(target: WatchTarget, handlers: WatchHandlers): ManagedWatch;
}

export interface ManagedWatch {
  readonly synced: boolean;
  start(): void;
  stop(): Promise<void>;
  stats(): WatchStats;
}

/** What each agent watches (docs/agent.md, "What each agent watches"). */
export function watchTargets(nodeName: string, gatewaySelector: string) {
  return {
    /** This node's pods: the clients it may steer, and the gateways it feeds routes to. */
    localPods: { name: 'pods', path: '/api/v1/pods', fieldSelector: `spec.nodeName=${nodeName}` },
    /** Gateway pods of the whole cluster, by the label the chart puts on them. */
    gateways: { name: 'gateways', path: '/api/v1/pods', labelSelector: gatewaySelector },
    /** Namespaces: their egress annotations and their labels (namespaceSelector). */
    namespaces: { name: 'namespaces', path: '/api/v1/namespaces' },
    /** This node, whole: its address (Calico's annotation, else status.addresses) is egress.calico's local address. */
    selfNode: { name: 'node', path: '/api/v1/nodes', fieldSelector: `metadata.name=${nodeName}` },
    /**
     * Every node, metadata only: Calico's address annotations say where each node is. Steered pods
     * reach them directly (Enterprise's all-hosts-net), and the route feed names them.
     */
    nodes: { name: 'nodes', path: '/api/v1/nodes', metadataOnly: true },
    /** Calico's IP pools (a handful): what steered pods reach directly, and the pool type of each block. */
    pools: { name: 'ippools', path: '/apis/crd.projectcalico.org/v1/ippools' },
    /** Only while a gateway runs on this node, for its route feed. */
    blocks: { name: 'ipamblocks', path: '/apis/crd.projectcalico.org/v1/ipamblocks' },
  } satisfies Record<string, WatchTarget>;
}

export async function kubeWatchFactory(kubeconfig: string | undefined, deps: { readonly clock: Clock; readonly logger: Logger }): Promise<WatchFactory> {
  const k8s: ClientNode = await import('@kubernetes/client-node');
  const kc: K8s.KubeConfig = new k8s.KubeConfig();
  try {
    if (kubeconfig !== undefined) kc.loadFromFile(kubeconfig);
    else kc.loadFromCluster();
  } catch (err) {
    throw new GatewayError(ErrorCodes.KUBE_API_FAILED, `loading the Kubernetes client configuration from ${kubeconfig ?? 'the in-cluster service account'}: ${describeCause(err)}`, { cause: err });
  }
  if (!kc.getCurrentCluster()) {
    throw new GatewayError(ErrorCodes.KUBE_API_FAILED, `the kubeconfig ${kubeconfig ?? '(in-cluster)'} names no current cluster`);
  }
  return { create: (target, handlers) => new ResourceWatch(k8s, kc, target, handlers, deps) };
}
