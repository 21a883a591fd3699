/**
 * Waiting in unit tests that run a real Daemon on fakes: its work is driven by timers and the test
 * Felix's socket, so a test polls for the state it expects, with a deadline that names what it awaited.
 */
export async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
