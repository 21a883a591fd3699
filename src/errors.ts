/**
 * The one catalogue of coded errors. Code is matched by `err.code`, never by message;
 * only the CLI entry point turns codes into exit statuses.
 */
export const ErrorCodes = {
  /** A variable or flag has a value we cannot use. Exit status 2. */
  CONFIG_INVALID: 'CONFIG_INVALID',
  /** A required tool or kernel feature is missing (iptables, nft, vxlan module). */
  BACKEND_UNAVAILABLE: 'BACKEND_UNAVAILABLE',
  /** A kernel operation (netlink, sysctl) failed. */
  KERNEL_OP_FAILED: 'KERNEL_OP_FAILED',
  /** iptables-restore or nft rejected the ruleset; nothing of it was applied. */
  NETFILTER_APPLY_FAILED: 'NETFILTER_APPLY_FAILED',
  /** The PolicySync stream failed or sent something we cannot use. */
  POLICYSYNC_FAILED: 'POLICYSYNC_FAILED',
  /** A message from Felix was malformed and was skipped. */
  MESSAGE_MALFORMED: 'MESSAGE_MALFORMED',
  /** The HTTP health server could not start. */
  HEALTH_SERVER_FAILED: 'HEALTH_SERVER_FAILED',
  /** The local status socket could not be served (the daemon runs on without it). */
  STATUS_SERVER_FAILED: 'STATUS_SERVER_FAILED',
  /** `egress-gateway status` got no usable answer from the daemon's status socket. Exit status 3. */
  DAEMON_UNREACHABLE: 'DAEMON_UNREACHABLE',
  /** A Calico selector (an egress annotation) does not parse; the pod it names is left unsteered. */
  SELECTOR_INVALID: 'SELECTOR_INVALID',
  /** The Kubernetes API could not be listed or watched (the agent retries). */
  KUBE_API_FAILED: 'KUBE_API_FAILED',
  /** A bug: an invariant did not hold. */
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class GatewayError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GatewayError';
    this.code = code;
  }
}

/**
 * `start` failed before the daemon was running (a port in use, an address not on an interface, an
 * audit file that cannot be opened, ...): the code and message of the cause, and exit status 2,
 * like bad configuration. What had started was stopped first.
 */
export class StartupError extends GatewayError {
  constructor(cause: unknown) {
    super(isGatewayError(cause) ? cause.code : ErrorCodes.INTERNAL, isGatewayError(cause) ? cause.message : describeCause(cause), { cause });
    this.name = 'StartupError';
  }
}

/** A configuration error naming the variable (or flag) and the value it had. */
export function configError(variable: string, value: string | undefined, why: string): GatewayError {
  const shown = value === undefined ? 'unset' : JSON.stringify(value);
  return new GatewayError(ErrorCodes.CONFIG_INVALID, `${variable}=${shown}: ${why}`);
}

/**
 * Wraps a failure of a kernel-facing step so that the message says what was being done
 * ("programming route 100.64.1.0/26 via vxlan0: ENETUNREACH").
 */
export function kernelError(doing: string, cause: unknown, code: ErrorCode = ErrorCodes.KERNEL_OP_FAILED): GatewayError {
  return new GatewayError(code, `${doing}: ${describeCause(cause)}`, { cause });
}

export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const errno = (cause as NodeJS.ErrnoException).code;
    if (errno && !cause.message.includes(errno)) return `${errno} (${cause.message})`;
    return cause.message;
  }
  return String(cause);
}

export function isGatewayError(err: unknown, code?: ErrorCode): err is GatewayError {
  return err instanceof GatewayError && (code === undefined || err.code === code);
}

/**
 * Exit statuses, decided only here: 2 for bad input and for any failure of `start` before it ran,
 * 3 when `status` cannot reach the daemon, 1 for everything else.
 */
export function exitStatusFor(err: unknown): number {
  if (isGatewayError(err, ErrorCodes.DAEMON_UNREACHABLE)) return 3;
  if (err instanceof StartupError) return 2;
  return isGatewayError(err, ErrorCodes.CONFIG_INVALID) ? 2 : 1;
}
