/**
 * How the protobuf codec was chosen (issue 14): the two kept libraries, each with its own generator, on
 * the routes benchmark's 10k-route snapshot (100 nodes), decoding (what the gateway does) and encoding
 * (what the agent's server does). Not part of the build (the losing candidate is no dependency); run by hand:
 *
 *   d=$(mktemp -d) && (cd $d && npm init -y >/dev/null && \
 *     npm i @bufbuild/protobuf@2 @bufbuild/protoc-gen-es@2 protobufjs@8 protobufjs-cli@2)
 *   node bench/micro/protobuf-candidates.cjs $d          # needs protoc (Debian protobuf-compiler)
 *
 * Each case runs in a fresh process (the daemon decodes its snapshot once, cold), cases alternated, ROUNDS
 * (7) times; one JSON line per case: the median of the first pass (cold) and of the warm passes after it.
 * Both encodings are checked to be the same bytes first.
 */
'use strict';
const { execFileSync } = require('node:child_process');
const { mkdirSync } = require('node:fs');
const { join, resolve } = require('node:path');

const N = 10_000;
const M = 100;

function routes() {
  const ipv4 = (n) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  const out = [];
  for (let i = 0; i < N; i++) {
    const j = i % M;
    out.push({ dst: `${ipv4(((100 << 24) | (65 << 16)) + i * 16)}/28`, node: `node-${j}`, ip: `198.51.100.${20 + j}` });
  }
  return out;
}

/** The case runner, in a child process: `node protobuf-candidates.cjs DIR --case NAME`. */
function runCase(dir, name) {
  const req = (m) => require(join(dir, 'node_modules', m));
  const { create, toBinary, fromBinary } = req('@bufbuild/protobuf');
  const es = require(join(dir, 'gen', 'es', 'felixbackend_pb.js'));
  const pb = require(join(dir, 'gen', 'pbjs', 'felixbackend.js')).felix;
  const rs = routes();
  const encES = () => {
    const out = [];
    for (const r of rs) {
      const value = create(es.RouteUpdateSchema, { type: 1, ipPoolType: 2, dst: r.dst, dstNodeName: r.node, dstNodeIp: r.ip });
      out.push(toBinary(es.ToDataplaneSchema, create(es.ToDataplaneSchema, { payload: { case: 'routeUpdate', value } })));
    }
    return out;
  };
  const encPB = () => rs.map((r) => pb.ToDataplane.encode({ route_update: { type: 1, ip_pool_type: 2, dst: r.dst, dst_node_name: r.node, dst_node_ip: r.ip } }).finish());
  const decES = (msgs) => msgs.map((m) => {
    const d = fromBinary(es.ToDataplaneSchema, m);
    return d.payload.case === 'routeUpdate' ? d.payload.value.dst : '';
  });
  const decPB = (msgs) => msgs.map((m) => {
    const d = pb.ToDataplane.decode(m);
    return d.payload === 'route_update' ? d.route_update.dst : '';
  });
  const bytes = encPB().map((b) => Buffer.from(b));
  if (name === 'check') {
    const other = encES();
    bytes.forEach((b, i) => {
      if (!b.equals(Buffer.from(other[i]))) throw new Error(`the encodings differ at message ${i}`);
    });
    return;
  }
  const fn = { 'decode bufbuild': () => decES(bytes), 'decode protobufjs': () => decPB(bytes), 'encode bufbuild': encES, 'encode protobufjs': encPB }[name];
  const t = [];
  for (let i = 0; i < 11; i++) {
    const s = process.hrtime.bigint();
    fn();
    t.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  const warm = t.slice(1).sort((a, b) => a - b);
  process.stdout.write(`${JSON.stringify({ first: t[0], warm: warm[warm.length >> 1] })}\n`);
}

function main(dir) {
  const proto = resolve(__dirname, '..', '..', 'proto');
  mkdirSync(join(dir, 'gen', 'es'), { recursive: true });
  mkdirSync(join(dir, 'gen', 'pbjs'), { recursive: true });
  execFileSync('protoc', ['-I', proto, `--plugin=protoc-gen-es=${join(dir, 'node_modules', '.bin', 'protoc-gen-es')}`, `--es_out=${join(dir, 'gen', 'es')}`, '--es_opt=target=js,js_import_style=legacy_commonjs', 'felixbackend.proto']);
  execFileSync(process.execPath, [join(dir, 'node_modules', 'protobufjs-cli', 'bin', 'pbjs'), '-t', 'static-module', '-w', 'commonjs', '--keep-case', '--no-create', '--no-verify', '--no-convert', '--no-delimited', '--no-typeurl', '--no-service', '-o', join(dir, 'gen', 'pbjs', 'felixbackend.js'), join(proto, 'felixbackend.proto')]);
  execFileSync(process.execPath, [__filename, dir, '--case', 'check'], { stdio: 'inherit' });
  const cases = ['decode bufbuild', 'decode protobufjs', 'encode bufbuild', 'encode protobufjs'];
  const results = Object.fromEntries(cases.map((c) => [c, { first: [], warm: [] }]));
  const rounds = Number(process.env.ROUNDS ?? 7);
  for (let r = 0; r < rounds; r++) {
    for (const c of r % 2 === 0 ? cases : [...cases].reverse()) {
      const line = JSON.parse(execFileSync(process.execPath, [__filename, dir, '--case', c], { encoding: 'utf8' }));
      results[c].first.push(line.first);
      results[c].warm.push(line.warm);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  for (const c of cases) {
    process.stdout.write(`${JSON.stringify({ case: c, messages: N, rounds, firstMs: +median(results[c].first).toFixed(1), warmMs: +median(results[c].warm).toFixed(1) })}\n`);
  }
}

const [dir, flag, name] = process.argv.slice(2);
if (!dir) {
  process.stderr.write('usage: protobuf-candidates.cjs DIR (with the four npm packages installed)\n');
  process.exitCode = 2;
} else if (flag === '--case') runCase(resolve(dir), name);
else main(resolve(dir));
