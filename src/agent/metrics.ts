import { Counter, Gauge, Registry } from 'prom-client';
import { collectRuntimeMetrics, METRIC_PREFIX } from '../observability/metrics';

/** The agent's metrics, on its own registry: egress_gateway_agent_*, plus the process and runtime ones. */
export interface AgentMetrics {
  readonly registry: Registry;
  readonly ready: Gauge;
  readonly steeredPods: Gauge;
  readonly failedClosedPods: Gauge;
  readonly unsteeredPods: Gauge;
  readonly annotationErrors: Counter<'annotation'>;
  readonly watchEvents: Counter<'resource' | 'type'>;
  readonly watchLists: Counter<'resource'>;
  readonly applies: Counter<'result'>;
  readonly feedRoutes: Gauge;
  readonly gatewayHealthChanges: Counter<'signal' | 'to'>;
  readonly gatewaysUsable: Gauge;
  /** 1 for each watched gateway's signal in its current state (kube, stream, echo, poll). */
  readonly gatewaySignal: Gauge<'gateway' | 'signal' | 'state'>;
  /** When that state began, in Unix seconds. */
  readonly gatewaySignalSince: Gauge<'gateway' | 'signal'>;
  /** 1 when the gateway may take new flows. */
  readonly gatewayUsable: Gauge<'gateway'>;
  /** 1 when its established flows keep going to it (usable, draining, or lost within AGENT_FLOW_GRACE). */
  readonly gatewayFlowsKept: Gauge<'gateway'>;
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
    unsteeredPods: new Gauge({ name: `${p}invalid_annotation_pods`, help: 'Pods on this node whose selector or namespaceSelector (their own or their namespace\'s) does not parse: not steered, their traffic takes the node\'s path', registers }),
    failedClosedPods: new Gauge({ name: `${p}failed_closed_pods`, help: 'Steered pods with no usable gateway: their new connections fail (unreachable), never leave with another address', registers }),
    annotationErrors: new Counter({ name: `${p}annotation_errors_total`, help: 'Egress annotations that could not be used (each counted once while it lasts), by annotation', labelNames: ['annotation'], registers }),
    watchEvents: new Counter({ name: `${p}watch_events_total`, help: 'Kubernetes objects added, changed or deleted, by watched resource', labelNames: ['resource', 'type'], registers }),
    watchLists: new Counter({ name: `${p}watch_lists_total`, help: 'Complete lists (the first, and each relist after 410 Gone or an error), by watched resource', labelNames: ['resource'], registers }),
    applies: new Counter({ name: `${p}steering_applies_total`, help: 'Steering specs handed to the dataplane, by result', labelNames: ['result'], registers }),
    feedRoutes: new Gauge({ name: `${p}route_feed_routes`, help: 'Routes in the route feed served to the gateways on this node', registers }),
    gatewayHealthChanges: new Counter({ name: `${p}gateway_health_changes_total`, help: 'Changes of a gateway signal (stream, echo, poll), by signal and new state', labelNames: ['signal', 'to'], registers }),
    gatewaysUsable: new Gauge({ name: `${p}gateways_usable`, help: "Gateways this node's pods may use that may take new flows now", registers }),
    gatewaySignal: new Gauge({ name: `${p}gateway_signal`, help: 'Each watched gateway signal (kube, stream, echo, poll) in its current state: 1', labelNames: ['gateway', 'signal', 'state'], registers }),
    gatewaySignalSince: new Gauge({ name: `${p}gateway_signal_since_seconds`, help: "When each watched gateway signal's current state began (Unix seconds)", labelNames: ['gateway', 'signal'], registers }),
    gatewayUsable: new Gauge({ name: `${p}gateway_usable`, help: 'Whether the gateway may take new flows (1) or not (0)', labelNames: ['gateway'], registers }),
    gatewayFlowsKept: new Gauge({ name: `${p}gateway_flows_kept`, help: 'Whether the established flows of the gateway keep going to it (1: usable, draining, or lost within AGENT_FLOW_GRACE) or move (0)', labelNames: ['gateway'], registers }),
  };
}
