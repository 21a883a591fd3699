/**
 * One request to the stand-in API server from inside a namespace (the test process cannot reach a
 * server listening on a namespace's loopback):
 *   node kube-call.js <base url> <METHOD> <path> [json body]
 * Prints the status on the first line and the body after it; exits 0 on a 2xx answer, 1 otherwise.
 * PATCH bodies go as JSON merge patches, as `kubectl patch --type merge` sends them.
 */
async function main([base = '', method = 'GET', path = '/', body]: string[]): Promise<void> {
  const res = await fetch(new URL(path, base), {
    method,
    headers: { 'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json' },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  process.stdout.write(`${res.status}\n${text}\n`);
  process.exit(res.ok ? 0 : 1);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`kube-call: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
