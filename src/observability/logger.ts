import pino from 'pino';

/**
 * JSON-lines logging with stable fields: `component` (which part of the gateway), `event`
 * (a short machine-readable name for what happened) and `err` (a coded error, when any).
 */
export type Logger = pino.Logger;

/** Calico's LOG_SEVERITY values, case-insensitive, mapped onto pino's levels. */
const severityToLevel: Record<string, pino.Level> = {
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  warn: 'warn',
  error: 'error',
  fatal: 'fatal',
  panic: 'fatal',
};

export function logLevelFor(severity: string): pino.Level | undefined {
  const key = severity.trim().toLowerCase();
  // Own keys only: "constructor" or "toString" must not find Object.prototype's members.
  return Object.prototype.hasOwnProperty.call(severityToLevel, key) ? severityToLevel[key] : undefined;
}

export const LOG_SEVERITIES = Object.keys(severityToLevel);

export function createLogger(level: pino.Level = 'info', destination: pino.DestinationStream = pino.destination(1)): Logger {
  return pino(
    {
      level,
      base: { service: 'egress-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError },
    },
    destination,
  );
}

/** A logger that writes nothing, for unit tests and dry runs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

function serializeError(err: unknown): unknown {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { message: err.message, ...(code !== undefined ? { code } : {}), type: err.name };
  }
  return err;
}
