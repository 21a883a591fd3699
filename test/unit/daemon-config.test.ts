import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDaemonConfig } from '../../src/daemon-config';
import { MAX_SOCKET_PATH_BYTES } from '../../src/config/socket-path';
import { DEFAULT_SOCKET_PATH } from '../../src/config/variables';
import { ErrorCodes, isGatewayError } from '../../src/errors';

const base = { EGRESS_POD_IP: '100.64.2.7' };
/** An absolute path of exactly `bytes` UTF-8 bytes. */
const pathOf = (bytes: number, fill = 's'): string => `/${fill.repeat(bytes - 1)}`;

describe('parseDaemonConfig: DAEMON_SOCKET_PATH', () => {
  const accepted: { name: string; env: Record<string, string>; flag?: string; want: string }[] = [
    { name: 'unset: the default', env: base, want: DEFAULT_SOCKET_PATH },
    { name: 'exactly sun_path minus the NUL', env: { ...base, DAEMON_SOCKET_PATH: pathOf(107) }, want: pathOf(107) },
    { name: 'the flag wins', env: { ...base, DAEMON_SOCKET_PATH: 'relative' }, flag: '/run/felix.sock', want: '/run/felix.sock' },
  ];
  for (const c of accepted) {
    it(`accepts: ${c.name}`, () => {
      assert.equal(parseDaemonConfig(c.env, c.flag === undefined ? {} : { socketPath: c.flag }).socketPath, c.want);
    });
  }

  const rejected: { name: string; env: Record<string, string>; flag?: string; message: string }[] = [
    { name: 'relative', env: { ...base, DAEMON_SOCKET_PATH: 'nodeagent/socket' }, message: 'DAEMON_SOCKET_PATH="nodeagent/socket": must be an absolute path' },
    {
      name: 'one byte over sun_path',
      env: { ...base, DAEMON_SOCKET_PATH: pathOf(108) },
      message: `DAEMON_SOCKET_PATH="${pathOf(108)}": is longer than the 107 bytes a Unix socket path may have`,
    },
    {
      // Bytes, not characters: 54 two-byte characters are 108 bytes.
      name: 'counted in bytes',
      env: { ...base, DAEMON_SOCKET_PATH: `/${'é'.repeat(54)}` },
      message: 'is longer than the 107 bytes',
    },
    { name: 'through the flag', env: base, flag: pathOf(200), message: `--socket-path="${pathOf(200)}": is longer than the 107 bytes` },
  ];
  for (const c of rejected) {
    it(`rejects: ${c.name}`, () => {
      assert.throws(
        () => parseDaemonConfig(c.env, c.flag === undefined ? {} : { socketPath: c.flag }),
        (err: unknown) => isGatewayError(err, ErrorCodes.CONFIG_INVALID) && err.message.includes(c.message),
      );
    });
  }

  it('holds DAEMON_SOCKET_PATH and STATUS_SOCKET to the same limit and error shape', () => {
    assert.equal(MAX_SOCKET_PATH_BYTES, 107);
    const long = pathOf(108);
    const shape = (name: string): string => `${name}="${long}": is longer than the 107 bytes a Unix socket path may have`;
    assert.throws(() => parseDaemonConfig({ ...base, DAEMON_SOCKET_PATH: long }), { message: shape('DAEMON_SOCKET_PATH') });
    assert.throws(() => parseDaemonConfig({ ...base, STATUS_SOCKET: long }), { message: shape('STATUS_SOCKET') });
  });
});
