import type { Sysctl } from '../kernel/ports';
import { ProcSysctl } from '../kernel/sysctl';
import type { Component } from '../lifecycle';
import type { Clock } from '../model/clock';
import type { IpAddress } from '../model/ip';
import type { Logger } from '../observability/logger';
import type { GatewayMetrics } from '../observability/metrics';
import { SnatAuditor } from './auditor';
import type { AuditConfig } from './config';
import { openFileSink, stdoutSink, type AuditSink } from './sink';
import { NetlinkConntrackEvents, type ConntrackEvents } from '../kernel/netlink/conntrack-events';

export interface SnatAuditWiring {
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly nodeFor: (ip: IpAddress) => string | undefined;
  /** Test seams; the real ones by default. */
  readonly source?: ConntrackEvents;
  readonly sink?: AuditSink;
  readonly sysctl?: Sysctl;
}

/**
 * The audit as a lifecycle component for the daemon. The sink is opened at start, so a file the
 * gateway cannot write fails `start` naming AUDIT_LOG.
 */
export function snatAuditComponent(config: AuditConfig, w: SnatAuditWiring): Component & { readonly auditor: () => SnatAuditor | undefined } {
  let auditor: SnatAuditor | undefined;
  return {
    name: 'snat-audit',
    auditor: () => auditor,
    start: async () => {
      const onError = (err: Error): void =>
        w.logger.error({ component: 'audit', event: 'audit_write_failed', err }, 'writing the audit log failed; further lines are dropped and counted');
      const sink = w.sink ?? (config.destination === 'stdout' ? stdoutSink(onError) : openFileSink(config.destination.path, onError));
      auditor = new SnatAuditor({
        config,
        source: w.source ?? new NetlinkConntrackEvents(),
        sink,
        metrics: w.metrics,
        logger: w.logger,
        clock: w.clock,
        nodeFor: w.nodeFor,
        sysctl: w.sysctl ?? new ProcSysctl(),
      });
      try {
        await auditor.start();
      } catch (err) {
        await sink.close();
        throw err;
      }
    },
    stop: () => auditor?.stop(),
  };
}
