import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NamespaceInfo, PodInfo } from '../../src/agent/cluster';
import { planSteering, type SteeringInputs } from '../../src/agent/steering';
import { steeringSpecText } from '../../src/model/steering';
import { gateway, ip, ns, pod } from './agent-fixtures';


function inputs(o: { pods?: PodInfo[]; gateways?: PodInfo[]; namespaces?: NamespaceInfo[]; usable?: (g: PodInfo) => boolean; nodeIp?: string | null }): SteeringInputs {
  return {
    nodeName: 'node1',
    ...(o.nodeIp === null ? {} : { nodeIp: ip(o.nodeIp ?? '198.51.100.11') }),
    vni: 4097,
    port: 4790,
    pods: o.pods ?? [],
    namespaces: new Map((o.namespaces ?? [ns('default'), ns('gw')]).map((n) => [n.name, n])),
    gateways: o.gateways ?? [],
    usable: o.usable ?? ((g) => g.ready && !g.deleting),
  };
}

const text = (i: SteeringInputs, prev?: Map<string, readonly string[]>): string => {
  const plan = planSteering(i, prev);
  assert.ok(plan.spec, 'no spec');
  return steeringSpecText(plan.spec);
};

const red = (sel = "color == 'red'"): PodInfo['egress'] => ({ selector: sel });

describe('steering: who is steered, to which gateways', () => {
  const gwA = gateway('default/gw-a', '100.64.2.7');
  const gwB = gateway('default/gw-b', '100.64.2.8', { labels: { color: 'blue' } });
  const gwOther = gateway('gw/gw-c', '100.64.3.9');

  const cases: { name: string; in: Parameters<typeof inputs>[0]; want: string[] }[] = [
    { name: 'no annotation: not steered', in: { pods: [pod('default/c')], gateways: [gwA] }, want: [] },
    { name: "a pod's selector: a gateway of its own namespace", in: { pods: [pod('default/c', { egress: red() })], gateways: [gwA, gwB, gwOther] }, want: ['client default/c ips 100.64.1.5 gateways 100.64.2.7'] },
    {
      name: 'without namespaceSelector, other namespaces do not count',
      in: { pods: [pod('default/c', { egress: red() })], gateways: [gateway('gw/gw-c', '100.64.3.9')] },
      want: ['client default/c ips 100.64.1.5 gateways none'],
    },
    {
      name: "namespaceSelector with Calico's projectcalico.org/name label",
      in: { pods: [pod('default/c', { egress: { selector: "color == 'red'", namespaceSelector: "projectcalico.org/name == 'gw'" } })], gateways: [gwA, gwOther] },
      want: ['client default/c ips 100.64.1.5 gateways 100.64.3.9'],
    },
    {
      name: 'namespaceSelector all(): every namespace',
      in: { pods: [pod('default/c', { egress: { selector: "color == 'red'", namespaceSelector: 'all()' } })], gateways: [gwA, gwOther] },
      want: ['client default/c ips 100.64.1.5 gateways 100.64.2.7,100.64.3.9'],
    },
    {
      name: "the namespace's annotation steers its pods",
      in: { pods: [pod('default/c'), pod('default/d', { ips: ['100.64.1.6'] })], gateways: [gwA, gwB], namespaces: [ns('default', { egress: red("color == 'blue'") })] },
      want: ['client default/c ips 100.64.1.5 gateways 100.64.2.8', 'client default/d ips 100.64.1.6 gateways 100.64.2.8'],
    },
    {
      name: "a pod's own annotations win over its namespace's, all three together",
      in: {
        pods: [pod('default/c', { egress: red() })],
        gateways: [gwA, gwB, gwOther],
        namespaces: [ns('default', { egress: { selector: "color == 'blue'", namespaceSelector: 'all()' } }), ns('gw')],
      },
      want: ['client default/c ips 100.64.1.5 gateways 100.64.2.7'],
    },
    {
      name: 'an empty selector annotation is no annotation (the namespace decides)',
      in: { pods: [pod('default/c', { egress: { selector: '  ' } })], gateways: [gwA, gwB], namespaces: [ns('default', { egress: red("color == 'blue'") })] },
      want: ['client default/c ips 100.64.1.5 gateways 100.64.2.8'],
    },
    { name: 'a bad selector: not steered (no rule)', in: { pods: [pod('default/c', { egress: red("color = 'red'") })], gateways: [gwA] }, want: [] },
    {
      name: "a pod's own bad selector does not fall back to its namespace's",
      in: { pods: [pod('default/c', { egress: red("color = 'red'") }), pod('default/d', { ips: ['100.64.1.6'] })], gateways: [gwA], namespaces: [ns('default', { egress: red('all()') })] },
      want: ['client default/d ips 100.64.1.6 gateways 100.64.2.7'],
    },
    {
      name: 'a bad namespaceSelector: not steered',
      in: { pods: [pod('default/c', { egress: { selector: 'all()', namespaceSelector: 'name ==' } })], gateways: [gwA] },
      want: [],
    },
    {
      name: "a namespace's bad selector: its pods are not steered, a pod with its own good one is",
      in: { pods: [pod('default/c'), pod('default/d', { egress: red('all()'), ips: ['100.64.1.6'] })], gateways: [gwA], namespaces: [ns('default', { egress: red('color ==') })] },
      want: ['client default/d ips 100.64.1.6 gateways 100.64.2.7'],
    },
    { name: 'an unready gateway is not used: fail closed', in: { pods: [pod('default/c', { egress: red() })], gateways: [gateway('default/gw-a', '100.64.2.7', { ready: false })] }, want: ['client default/c ips 100.64.1.5 gateways none'] },
    {
      name: 'a terminating gateway takes no new flows',
      in: { pods: [pod('default/c', { egress: red('all()') })], gateways: [gateway('default/gw-a', '100.64.2.7', { deleting: true }), gwB] },
      want: ['client default/c ips 100.64.1.5 gateways 100.64.2.8'],
    },
    { name: 'global() selects no pod gateway: fail closed', in: { pods: [pod('default/c', { egress: red('global()') })], gateways: [gwA] }, want: ['client default/c ips 100.64.1.5 gateways none'] },
    {
      name: 'selectors see projectcalico.org/namespace on gateways',
      in: { pods: [pod('default/c', { egress: { selector: "projectcalico.org/namespace == 'gw'", namespaceSelector: 'all()' } })], gateways: [gwA, gwOther] },
      want: ['client default/c ips 100.64.1.5 gateways 100.64.3.9'],
    },
    {
      name: 'a gateway in an annotated namespace is not its own client',
      in: { pods: [pod('default/c'), gateway('default/gw-a', '100.64.2.7', { nodeName: 'node1' })], gateways: [gateway('default/gw-a', '100.64.2.7', { nodeName: 'node1' })], namespaces: [ns('default', { egress: red() })] },
      want: ['client default/c ips 100.64.1.5 gateways 100.64.2.7'],
    },
    {
      name: 'not clients: other node, host network, finished, no address yet',
      in: {
        pods: [
          pod('default/a', { egress: red(), nodeName: 'node2' }),
          pod('default/b', { egress: red(), hostNetwork: true }),
          pod('default/c', { egress: red(), phase: 'Succeeded' }),
          pod('default/d', { egress: red(), phase: 'Failed' }),
          pod('default/e', { egress: red(), ips: [] }),
          pod('default/f', { egress: red(), phase: 'Pending', ips: ['100.64.1.9'] }),
        ],
        gateways: [gwA],
      },
      want: ['client default/f ips 100.64.1.9 gateways 100.64.2.7'],
    },
    {
      name: 'a pod whose namespace is not known yet is held closed',
      in: { pods: [pod('new/c')], gateways: [gwA] },
      want: ['client new/c ips 100.64.1.5 gateways none'],
    },
    {
      name: 'dual-stack: the IPv6 address of a dual-stack gateway too',
      in: { pods: [pod('default/c', { egress: red(), ips: ['100.64.1.5', '2001:db8:1::5'] })], gateways: [gateway('default/gw-a', '100.64.2.7', { ips: ['100.64.2.7', '2001:db8:2::7'] })] },
      want: ['client default/c ips 100.64.1.5,2001:db8:1::5 gateways 100.64.2.7+2001:db8:2::7'],
    },
    {
      name: 'an IPv4-only client: the gateway whole (the dataplane programs the families the pod has)',
      in: { pods: [pod('default/c', { egress: red() })], gateways: [gateway('default/gw-a', '100.64.2.7', { ips: ['100.64.2.7', '2001:db8:2::7'] })] },
      want: ['client default/c ips 100.64.1.5 gateways 100.64.2.7+2001:db8:2::7'],
    },
    {
      name: 'an IPv4 client cannot use an IPv6-only gateway',
      in: { pods: [pod('default/c', { egress: red() })], gateways: [gateway('default/gw-a', '2001:db8:2::7')] },
      want: ['client default/c ips 100.64.1.5 gateways none'],
    },
    {
      name: 'gateways in address order',
      in: { pods: [pod('default/c', { egress: red('all()') })], gateways: [gateway('default/z', '100.64.2.10'), gateway('default/a', '100.64.2.9'), gateway('default/m', '100.64.2.100')] },
      want: ['client default/c ips 100.64.1.5 gateways 100.64.2.9,100.64.2.10,100.64.2.100'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(text(inputs(c.in)), ['device node1 vni 4097 port 4790 local 198.51.100.11', ...c.want].join('\n'));
    });
  }

  it('reports a bad selector once per plan, with the column, and says the pod is not steered', () => {
    const plan = planSteering(inputs({ pods: [pod('default/c', { egress: red("color = 'red'") })], gateways: [gwA] }));
    assert.equal(plan.errors.length, 1);
    assert.equal(plan.errors[0]?.annotation, 'selector');
    assert.equal(plan.errors[0].subject, 'default/c');
    assert.match(plan.errors[0].message, /expected "==" at column 7/);
    assert.equal(plan.clients[0]?.steered, false);
    assert.match(plan.clients[0].problem ?? '', /^selector "color = 'red'": expected "==" at column 7: does not parse, not steered$/);
    assert.deepEqual(plan.spec?.clients, []);
    assert.equal(plan.assignments.size, 0);
  });

  it("a namespace's bad selector is one subject, whatever the number of its pods", () => {
    const plan = planSteering(inputs({ pods: [pod('default/c'), pod('default/d', { ips: ['100.64.1.6'] })], gateways: [gwA], namespaces: [ns('default', { egress: red('color ==') })] }));
    assert.deepEqual(plan.errors.map((e) => [e.pod, e.subject, e.source]), [['default/c', 'namespace default', 'namespace'], ['default/d', 'namespace default', 'namespace']]);
    assert.deepEqual(plan.clients.map((c) => [c.pod, c.steered]), [['default/c', false], ['default/d', false]]);
  });

  it('no node address: no spec yet, but the reports are there', () => {
    const plan = planSteering(inputs({ pods: [pod('default/c', { egress: red() })], gateways: [gwA], nodeIp: null }));
    assert.equal(plan.spec, undefined);
    assert.equal(plan.clients.length, 1);
  });

  it('does not depend on the order of its inputs', () => {
    const pods = [pod('default/a', { egress: red('all()'), ips: ['100.64.1.2'] }), pod('default/b', { egress: red('all()'), ips: ['100.64.1.3'] }), pod('default/c', { egress: red('all()') })];
    const gws = [gateway('default/g1', '100.64.2.1'), gateway('default/g2', '100.64.2.2'), gateway('default/g3', '100.64.2.3')];
    const withMax = pods.map((p) => ({ ...p, egress: { ...p.egress, maxNextHops: '1' } }));
    const a = text(inputs({ pods: withMax, gateways: gws }));
    const b = text(inputs({ pods: [...withMax].reverse(), gateways: [...gws].reverse() }));
    assert.equal(a, b);
  });

  it('relevantGateways: those some local client matches, usable or not', () => {
    const plan = planSteering(inputs({ pods: [pod('default/c', { egress: red() })], gateways: [gwA, gwB, gateway('default/gw-x', '100.64.2.99', { ready: false })] }));
    assert.deepEqual([...plan.relevantGateways].sort(), ['default/gw-a', 'default/gw-x']);
  });
});

describe('steering: maxNextHops', () => {
  const gws = [gateway('default/g1', '100.64.2.1'), gateway('default/g2', '100.64.2.2'), gateway('default/g3', '100.64.2.3')];
  const clients = (max: string): PodInfo[] => [1, 2, 3].map((i) => pod(`default/c${i}`, { egress: { selector: 'all()', maxNextHops: max }, ips: [`100.64.1.${i}`] }));
  const gatewaysOf = (plan: ReturnType<typeof planSteering>, p: string): string[] => [...(plan.assignments.get(p) ?? [])];

  it('three clients, three gateways, at most two each: three different pairs, every gateway used twice', () => {
    const plan = planSteering(inputs({ pods: clients('2'), gateways: gws }));
    const sets = ['default/c1', 'default/c2', 'default/c3'].map((p) => gatewaysOf(plan, p));
    for (const s of sets) assert.equal(s.length, 2);
    assert.equal(new Set(sets.map((s) => s.join(','))).size, 3);
    const load = new Map<string, number>();
    for (const s of sets) for (const g of s) load.set(g, (load.get(g) ?? 0) + 1);
    assert.deepEqual([...load.values()], [2, 2, 2]);
  });

  it('a gateway gone: every pod keeps what it had of the others and fills up from them', () => {
    const first = planSteering(inputs({ pods: clients('2'), gateways: gws }));
    const after = planSteering(inputs({ pods: clients('2'), gateways: gws.slice(1) }), first.assignments);
    for (const p of ['default/c1', 'default/c2', 'default/c3']) {
      const before = gatewaysOf(first, p).filter((g) => g !== 'default/g1');
      const now = gatewaysOf(after, p);
      assert.deepEqual(now, ['default/g2', 'default/g3']);
      for (const g of before) assert.ok(now.includes(g), `${p} lost ${g}`);
    }
  });

  it('a gateway added: no pod moves off the gateways it has; the newcomer takes new pods', () => {
    const one = planSteering(inputs({ pods: clients('1'), gateways: gws.slice(0, 2) }));
    const more = [...gws, gateway('default/g4', '100.64.2.4')];
    const two = planSteering(inputs({ pods: [...clients('1'), pod('default/c4', { egress: { selector: 'all()', maxNextHops: '1' }, ips: ['100.64.1.4'] })], gateways: more }), one.assignments);
    for (const p of ['default/c1', 'default/c2', 'default/c3']) assert.deepEqual(gatewaysOf(two, p), gatewaysOf(one, p));
    // c4 goes to one of the gateways nobody uses (g3 or g4), not to a loaded one.
    const c4 = gatewaysOf(two, 'default/c4')[0] ?? '';
    const used = new Set(['default/c1', 'default/c2', 'default/c3'].flatMap((p) => gatewaysOf(two, p)));
    assert.ok(!used.has(c4) || used.size === 4, `c4 went to ${c4}, already used`);
  });

  it('the same choice after a restart (no memory): deterministic', () => {
    const a = planSteering(inputs({ pods: clients('1'), gateways: gws }));
    const b = planSteering(inputs({ pods: clients('1'), gateways: gws }));
    assert.deepEqual([...a.assignments], [...b.assignments]);
  });

  it('"0" and unset: every usable gateway', () => {
    for (const max of ['0', '']) {
      const plan = planSteering(inputs({ pods: clients(max), gateways: gws }));
      assert.deepEqual(gatewaysOf(plan, 'default/c1'), ['default/g1', 'default/g2', 'default/g3']);
    }
  });

  it('more than there are: all of them', () => {
    const plan = planSteering(inputs({ pods: clients('5'), gateways: gws }));
    assert.equal(gatewaysOf(plan, 'default/c1').length, 3);
  });

  it('not a number: every gateway, and a reported problem', () => {
    const plan = planSteering(inputs({ pods: clients('two'), gateways: gws }));
    assert.equal(gatewaysOf(plan, 'default/c1').length, 3);
    assert.ok(plan.errors.some((e) => e.annotation === 'maxNextHops' && e.pod === 'default/c1'));
  });

  it('an unready gateway is replaced, and when it is back the pod stays where it went', () => {
    const one = planSteering(inputs({ pods: clients('1'), gateways: gws }));
    const had = gatewaysOf(one, 'default/c1')[0];
    const down = planSteering(inputs({ pods: clients('1'), gateways: gws, usable: (g) => g.key !== had }), one.assignments);
    const moved = gatewaysOf(down, 'default/c1')[0];
    assert.notEqual(moved, had);
    const back = planSteering(inputs({ pods: clients('1'), gateways: gws }), down.assignments);
    assert.equal(gatewaysOf(back, 'default/c1')[0], moved);
  });
});

describe('steering: flows kept on gateways that take no new ones', () => {
  const gwA = gateway('default/gw-a', '100.64.2.7');
  const gwB = gateway('default/gw-b', '100.64.2.8');
  const gwC = gateway('default/gw-c', '100.64.2.9', { labels: { color: 'blue' } });
  const client = pod('default/c', { egress: red() });

  it('a draining gateway leaves the pods\' gateways and is named in keepFlows; the gateways in use and the unmatched are not', () => {
    const plan = planSteering({
      ...inputs({ pods: [client], gateways: [gwA, { ...gwB, deleting: true }, gwC] }),
      usable: (g) => !g.deleting,
      keepFlows: (g) => g.key !== 'default/gw-c',
    });
    assert.ok(plan.spec);
    assert.equal(
      steeringSpecText(plan.spec),
      ['device node1 vni 4097 port 4790 local 198.51.100.11', 'keep flows of 100.64.2.8', 'client default/c ips 100.64.1.5 gateways 100.64.2.7'].join('\n'),
    );
  });

  it('without keepFlows, a gateway keeps flows exactly when it is usable (no spec change for a lost one)', () => {
    const plan = planSteering({ ...inputs({ pods: [client], gateways: [gwA, { ...gwB, ready: false }] }) });
    assert.equal(plan.spec?.keepFlows, undefined);
  });
});
