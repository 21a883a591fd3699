import { Counter, Gauge, Registry } from 'prom-client';
import { collectRuntimeMetrics, METRIC_PREFIX } from '../observability/metrics';

/** The agent's metrics, on its own registry: egress_gateway_agent_*, plus the process and runtime ones. */
export interface AgentMetrics {
  readonly registry: Registry;
  readonly ready: Gauge;
  readonly steeredPods: Gauge;
  readonly failedClosedPods: Gauge;
  readonly annotationErrors: Counter<'annotation'>;
  readonly watchEvents: Counter<'resource' | 'type'>;
  readonly watchLists: Counter<'resource'>;
  readonly applies: Counter<'result'>;
  readonly feedRoutes: Gauge;
  readonly gatewayHealthChanges: Counter<'signal' | 'to'>;
  readonly gatewaysUsable: Gauge;
}

export function createAgentMetrics(options: { readonly processMetrics?: boolean } = {}): AgentMetrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.processMetrics ?? true) collectRuntimeMetrics(registry, METRIC_PREFIX);
  const p = `${METRIC_PREFIX}agent_`;
  return {
    registry,
    ready: new Gauge({ name: `${p}ready`, help: 'Whether the agent reports ready (1) or not (0)', registers }),
    steeredPods: new Gauge({ name: `${p}steered_pods`, help: "Pods on this node whose annotations steer them to a gateway (failed-closed ones included)", registers }),
    failedClosedPods: new Gauge({ name: `${p}failed_closed_pods`, help: 'Steered pods with no usable gateway: their new connections fail (unreachable), never leave with another address', registers }),
    annotationErrors: new Counter({ name: `${p}annotation_errors_total`, help: 'Egress annotations that could not be used (each counted once while it lasts), by annotation', labelNames: ['annotation'], registers }),
    watchEvents: new Counter({ name: `${p}watch_events_total`, help: 'Kubernetes objects added, changed or deleted, by watched resource', labelNames: ['resource', 'type'], registers }),
    watchLists: new Counter({ name: `${p}watch_lists_total`, help: 'Complete lists (the first, and each relist after 410 Gone or an error), by watched resource', labelNames: ['resource'], registers }),
    applies: new Counter({ name: `${p}steering_applies_total`, help: 'Steering specs handed to the dataplane, by result', labelNames: ['result'], registers }),
    feedRoutes: new Gauge({ name: `${p}route_feed_routes`, help: 'Routes in the route feed served to the gateways on this node', registers }),
    gatewayHealthChanges: new Counter({ name: `${p}gateway_health_changes_total`, help: 'Changes of a gateway signal (stream, echo, poll), by signal and new state', labelNames: ['signal', 'to'], registers }),
    gatewaysUsable: new Gauge({ name: `${p}gateways_usable`, help: 'Gateways this node polls that may take new flows now', registers }),
  };
}
