import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BatchError, FatalError, createMessage, type Message } from '../../src/sdk/index.js';
import { startMosquitto, type ServiceHandle } from '../../test/harness/services.js';
import { TcpProxy } from '../../test/harness/tcp-proxy.js';
import { TahuHost, num } from '../../test/harness/tahu-host.js';
import { createFakeContext, waitFor, type FakeContext } from '../../test/conformance/context.js';
import { sinkConformance } from '../../test/conformance/sink.js';
import { sparkplugSink } from './edge-index.js';
import { SparkplugSink } from './edge-sink.js';
import { sparkplugSinkConfig } from './edge-spec.js';

let broker: ServiceHandle;
let proxy: TcpProxy;
const hosts: TahuHost[] = [];
const sinks: SparkplugSink[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
  proxy = new TcpProxy(broker.port);
  await proxy.start();
});

afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
  for (const h of hosts.splice(0)) await h.close();
});

afterAll(async () => {
  await proxy?.stop();
  await broker?.dispose();
});

let n = 0;
const unique = (name: string): string => `${name}-${process.pid}-${++n}`;

function sink(config: Record<string, unknown>, ctx: FakeContext = createFakeContext()): SparkplugSink {
  const parsed = sparkplugSinkConfig.parse({
    url: broker.url,
    reconnectDelay: '100ms',
    reconnectMaxDelay: '500ms',
    ...config,
  });
  const s = sparkplugSink.create(parsed, ctx) as SparkplugSink;
  sinks.push(s);
  return s;
}

async function host(groupId: string): Promise<TahuHost> {
  const h = await TahuHost.start(broker.url, groupId);
  hosts.push(h);
  return h;
}

const connect = (s: SparkplugSink): Promise<void> => s.connect(AbortSignal.timeout(10_000));
const write = (s: SparkplugSink, batch: Message[]): Promise<void> =>
  s.write(batch, AbortSignal.timeout(10_000));

/** A message as the OPC UA source makes it. */
function opcua(
  node: string,
  value: unknown,
  dataType = 'Double',
  quality = 'good',
  time = Date.now(),
): Message {
  return createMessage({
    id: `${node}@${time}-${Math.random()}`,
    payload: {
      node,
      value,
      dataType,
      quality,
      status: quality === 'good' ? 'Good' : 'BadCommunicationError',
    },
    meta: {
      'opcua.nodeId': `ns=1;s=${node}`,
      'opcua.name': node,
      'opcua.quality': quality,
      'opcua.dataType': dataType,
    },
    time,
  });
}

const conformanceGroup = unique('conformance');
let conformanceHost: TahuHost;
beforeAll(async () => {
  conformanceHost = await TahuHost.start(broker.url, conformanceGroup);
});
afterAll(async () => conformanceHost?.close());
sinkConformance('sparkplug (through a TCP proxy)', () => ({
  create: (ctx) =>
    sparkplugSink.create(
      sparkplugSinkConfig.parse({
        url: `mqtt://127.0.0.1:${proxy.port}`,
        groupId: conformanceGroup,
        edgeNodeId: unique('edge'),
        device: 'd1',
        metric: '{{ payload.v }}',
        value: 'payload.v',
        reconnectDelay: '100ms',
        reconnectMaxDelay: '500ms',
      }),
      ctx,
    ),
  messages: (values) => values.map((v) => createMessage({ id: v, payload: { v } })),
  received: async () =>
    conformanceHost.seen
      .flatMap((s) => s.metrics.map((m) => m.value))
      .filter((v): v is string => typeof v === 'string'),
  holdAcceptance: async () => proxy.pause(),
  heldAnswers: () => proxy.heldAnswers,
  releaseAcceptance: async () => proxy.resume(),
  stopTarget: () => proxy.stop(),
  startTarget: () => proxy.start(),
}));

describe('sparkplug sink (edge node) against Mosquitto and a Tahu host', { timeout: 60_000 }, () => {
  it('births: NBIRTH (QoS 0, not retained, seq 0, bdSeq 0, Rebirth false, no alias) then DBIRTH of declared metrics', async () => {
    const group = unique('g');
    const h = await host(group);
    const s = sink({
      groupId: group,
      edgeNodeId: 'e1',
      metrics: [
        { name: 'Setpoint', device: 'line1', dataType: 'Double', value: 21.5 },
        { name: 'Mode', dataType: 'String' },
      ],
    });
    await connect(s);
    await waitFor(() => h.of('DBIRTH').length === 1, 'NBIRTH and DBIRTH');
    const [nbirth] = h.of('NBIRTH');
    expect(nbirth).toMatchObject({ topic: `spBv1.0/${group}/NBIRTH/e1`, qos: 0, retain: false, seq: 0 });
    expect(h.bdSeqOf(nbirth!)).toBe(0);
    const rebirth = nbirth!.payload.metrics!.find((m) => m.name === 'Node Control/Rebirth')!;
    expect(rebirth).toMatchObject({ type: 'Boolean', value: false });
    expect(rebirth.alias).toBeUndefined();
    expect(nbirth!.metrics.find((m) => m.name === 'Mode')).toMatchObject({ type: 'String', value: null });
    const [dbirth] = h.of('DBIRTH');
    expect(dbirth).toMatchObject({
      topic: `spBv1.0/${group}/DBIRTH/e1/line1`,
      qos: 0,
      retain: false,
      seq: 1,
    });
    expect(dbirth!.metrics).toEqual([
      expect.objectContaining({ name: 'Setpoint', type: 'Double', value: 21.5 }),
    ]);
    expect(num(nbirth!.payload.timestamp)).toBeGreaterThan(0);
    expect(h.problems).toEqual([]);
  });

  it('data: DDATA with aliases only and seq + 1, every datatype decoded by Tahu, quality from the OPC UA status', async () => {
    const group = unique('g');
    const h = await host(group);
    const s = sink({ groupId: group, edgeNodeId: 'e1', device: 'line1' });
    await connect(s);
    await waitFor(() => h.of('NBIRTH').length === 1, 'NBIRTH');
    const t = Date.now();
    await write(s, [
      opcua('Temperature', 21.5, 'Double', 'good', t),
      opcua('Count', -7, 'Int32', 'good', t),
      opcua('Total', '9007199254740993', 'Int64', 'good', t),
      opcua('Running', true, 'Boolean', 'good', t),
      opcua('Name', 'Line 1', 'String', 'good', t),
      opcua('Pressure', null, 'Double', 'bad', t),
    ]);
    await write(s, [
      opcua('Temperature', 22, 'Double', 'good', t + 1),
      opcua('Pressure', 1.5, 'Double', 'uncertain', t + 1),
    ]);
    await waitFor(() => h.of('DDATA').length === 1, 'DDATA');
    const [dbirth] = h.of('DBIRTH');
    expect(dbirth!.metrics.map((m) => [m.name, m.type])).toEqual([
      ['Temperature', 'Double'],
      ['Count', 'Int32'],
      ['Total', 'Int64'],
      ['Running', 'Boolean'],
      ['Name', 'String'],
      ['Pressure', 'Double'],
    ]);
    expect(dbirth!.metrics.find((m) => m.name === 'Total')!.value!.toString()).toBe('9007199254740993');
    expect(dbirth!.metrics.find((m) => m.name === 'Pressure')).toMatchObject({ value: null, quality: 0 });
    expect(dbirth!.metrics.find((m) => m.name === 'Temperature')).toMatchObject({
      value: 21.5,
      quality: 192,
    });
    const [ddata] = h.of('DDATA');
    expect(ddata).toMatchObject({ qos: 0, retain: false, seq: 2 });
    // Aliases only (tck-id-payloads-alias-data-cmd-requirement): the host resolves them from the birth.
    expect(ddata!.payload.metrics!.every((m) => m.name === undefined && num(m.alias)! > 0)).toBe(true);
    expect(ddata!.metrics.map((m) => [m.name, m.value, m.quality])).toEqual([
      ['Temperature', 22, 192],
      ['Pressure', 1.5, 64],
    ]);
    expect(ddata!.payload.metrics!.map((m) => num(m.timestamp))).toEqual([t + 1, t + 1]);
    expect(h.problems).toEqual([]);
  });

  it('a new metric after DBIRTH: DDEATH and a new DBIRTH with every metric, then data', async () => {
    const group = unique('g');
    const h = await host(group);
    const s = sink({ groupId: group, edgeNodeId: 'e1', device: 'line1' });
    await connect(s);
    await write(s, [opcua('A', 1)]);
    await write(s, [opcua('A', 2), opcua('B', 10)]);
    await waitFor(() => h.of('DDATA').length === 1, 'DDATA');
    expect(h.seen.map((x) => [x.type, x.seq])).toEqual([
      ['NBIRTH', 0],
      ['DBIRTH', 1],
      ['DDEATH', 2],
      ['DBIRTH', 3],
      ['DDATA', 4],
    ]);
    expect(h.of('DBIRTH')[1]!.metrics.map((m) => [m.name, m.value])).toEqual([
      ['A', 1],
      ['B', 10],
    ]);
    expect(h.values('e1', 'line1', 'A')).toEqual([1, 1, 2]);
    expect(h.problems).toEqual([]);
  });

  it('seq wraps from 255 to 0', async () => {
    const group = unique('g');
    const h = await host(group);
    const s = sink({ groupId: group, edgeNodeId: 'e1', device: 'line1' });
    await connect(s);
    for (let i = 0; i < 300; i++) await write(s, [opcua('A', i)]);
    await waitFor(() => h.of('DDATA').length === 299, '299 DDATA');
    const seqs = h.seen.map((x) => x.seq);
    expect(seqs.slice(0, 3)).toEqual([0, 1, 2]);
    expect(seqs[255]).toBe(255);
    expect(seqs[256]).toBe(0);
    expect(h.values('e1', 'line1', 'A')).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(h.problems).toEqual([]);
  });

  it('NCMD Rebirth: a new NBIRTH with the same bdSeq and seq 0, every DBIRTH with current values, then data goes on', async () => {
    const group = unique('g');
    const h = await host(group);
    const ctx = createFakeContext();
    const s = sink({ groupId: group, edgeNodeId: 'e1', device: 'line1' }, ctx);
    await connect(s);
    await write(s, [opcua('A', 1), opcua('A', 2)]);
    await h.rebirth('e1');
    await waitFor(() => h.of('NBIRTH').length === 2 && h.of('DBIRTH').length === 2, 'the rebirth');
    const [first, second] = h.of('NBIRTH');
    expect(h.bdSeqOf(second!)).toBe(h.bdSeqOf(first!));
    expect(second!.seq).toBe(0);
    expect(h.of('DBIRTH')[1]!.metrics.map((m) => [m.name, m.value])).toEqual([['A', 2]]);
    await write(s, [opcua('A', 3)]);
    await waitFor(() => h.values('e1', 'line1', 'A').includes(3), 'data after the rebirth');
    expect(h.seen.at(-1)).toMatchObject({ type: 'DDATA', seq: 2 });
    expect(h.problems).toEqual([]);
    expect(
      await ctx.registry.getSingleMetricAsString('passerelle_sparkplug_edge_rebirth_requests_total'),
    ).toMatch(/ 1$/m);
  });

  for (const protocolVersion of [5, 4] as const) {
    it(`clean stop (MQTT ${protocolVersion === 5 ? '5: DISCONNECT with Will' : '3.1.1: NDEATH then DISCONNECT'}): one NDEATH with the bdSeq of NBIRTH, no seq`, async () => {
      const group = unique('g');
      const h = await host(group);
      const s = sink({ groupId: group, edgeNodeId: 'e1', protocolVersion });
      await connect(s);
      await waitFor(() => h.of('NBIRTH').length === 1, 'NBIRTH');
      await s.close();
      await waitFor(() => h.of('NDEATH').length === 1, 'NDEATH');
      // A second NDEATH (the Will as well) would have reached the host before its marker.
      await h.sync();
      const deaths = h.of('NDEATH');
      expect(deaths).toHaveLength(1);
      expect(deaths[0]!.seq).toBeUndefined();
      expect(deaths[0]!.payload.metrics!.map((m) => m.name)).toEqual(['bdSeq']);
      expect(h.bdSeqOf(deaths[0]!)).toBe(h.bdSeqOf(h.of('NBIRTH')[0]!));
      expect(h.problems).toEqual([]);
    });
  }

  it('a lost connection: the broker sends the Will (NDEATH, bdSeq n); after reconnecting, NBIRTH with bdSeq n + 1, then the retried batch', async () => {
    const group = unique('g');
    const h = await host(group);
    const local = new TcpProxy(broker.port);
    await local.start();
    try {
      const s = sink({
        groupId: group,
        edgeNodeId: 'e1',
        device: 'line1',
        url: `mqtt://127.0.0.1:${local.port}`,
      });
      await connect(s);
      await write(s, [opcua('A', 1)]);
      await local.stop();
      await waitFor(() => h.of('NDEATH').length === 1, 'the NDEATH from the Will');
      expect(h.bdSeqOf(h.of('NDEATH')[0]!)).toBe(0);
      await expect(write(s, [opcua('A', 2)])).rejects.toThrow(/not connected|connection/i);
      await local.start();
      await waitFor(() => h.of('NBIRTH').length === 2, 'the second NBIRTH');
      expect(h.bdSeqOf(h.of('NBIRTH')[1]!)).toBe(1);
      await write(s, [opcua('A', 2)]);
      await waitFor(() => h.values('e1', 'line1', 'A').includes(2), 'the data');
      expect(h.problems).toEqual([]);
    } finally {
      await local.stop();
    }
  });

  it('a broker down for three reconnection attempts: a new session with bdSeq + 1 (one per CONNECT) and a full birth once the broker and the primary host are back', async () => {
    const own = await startMosquitto();
    try {
      const group = unique('g');
      const hostId = unique('scada');
      // A primary host: the edge node's new birth waits for its STATE, so the host (which may
      // reconnect after the edge node) does not miss it.
      const h = await TahuHost.start(own.url, group, { primaryHostId: hostId });
      hosts.push(h);
      const ctx = createFakeContext();
      const s = sink(
        {
          groupId: group,
          edgeNodeId: 'e1',
          device: 'line1',
          url: own.url,
          primaryHostId: hostId,
        },
        ctx,
      );
      await connect(s);
      await waitFor(() => h.of('NBIRTH').length === 1, 'NBIRTH once the primary host is online');
      await write(s, [opcua('A', 1)]);
      // Down long enough for several reconnection attempts: those that find no broker send no
      // CONNECT, so they do not count in bdSeq.
      const before = ctx.states.length;
      await own.stop();
      // Counted, not timed: three attempts that found no broker.
      await waitFor(
        () => ctx.states.slice(before).filter((x) => x.state === 'reconnecting').length >= 3,
        'three reconnection attempts',
        30_000,
      );
      await own.restart();
      await waitFor(() => h.of('NBIRTH').length === 2, 'the NBIRTH after the restart', 30_000);
      expect(h.bdSeqOf(h.of('NBIRTH')[1]!)).toBe(1);
      expect(
        h
          .of('DBIRTH')
          .at(-1)!
          .metrics.map((m) => [m.name, m.value]),
      ).toEqual([['A', 1]]);
      await waitFor(async () => {
        try {
          await write(s, [opcua('A', 2)]);
          return true;
        } catch {
          return false;
        }
      }, 'a write after the restart');
      await waitFor(() => h.values('e1', 'line1', 'A').includes(2), 'the data');
      expect(h.problems).toEqual([]);
    } finally {
      await own.dispose();
    }
  });

  it('waits for the primary host: births only once STATE says online; offline ends the session (NDEATH) and waits again', async () => {
    const group = unique('g');
    const hostId = unique('scada');
    const h = await host(group);
    const ctx = createFakeContext();
    const s = sink({ groupId: group, edgeNodeId: 'e1', device: 'line1', primaryHostId: hostId }, ctx);
    const stateTopic = `spBv1.0/STATE/${hostId}`;
    const state = (online: boolean, timestamp: number) =>
      h.client.publishAsync(stateTopic, JSON.stringify({ online, timestamp }), { qos: 1, retain: true });
    // The sink has read every STATE before this one once it logs this one (one topic: in order),
    // and a birth it made then has reached the host by the host's marker.
    const unreadable = (): number =>
      ctx.logs.filter((l) => l.msg === 'Sparkplug edge node: unreadable STATE ignored').length;
    const stateReadThenSync = async (retain: boolean): Promise<void> => {
      const before = unreadable();
      await h.client.publishAsync(stateTopic, 'not a STATE', { qos: 1, retain });
      await waitFor(() => unreadable() > before, 'the sink to read the STATE topic');
      await h.sync();
    };
    await connect(s);
    // Retained: the sink reads it whenever its subscription is in place.
    await stateReadThenSync(true);
    expect(h.seen).toEqual([]);
    await expect(write(s, [opcua('A', 1)])).rejects.toThrow(/primary host/);
    await state(true, 1000);
    await waitFor(() => h.of('NBIRTH').length === 1, 'NBIRTH after STATE online');
    await write(s, [opcua('A', 1)]);
    // An older STATE does not count.
    await state(false, 999);
    // A sink that took it would have dropped the connection (no later STATE read) or sent NDEATH.
    await stateReadThenSync(false);
    expect(h.of('NDEATH')).toHaveLength(0);
    await state(false, 2000);
    await waitFor(() => h.of('NDEATH').length === 1, 'NDEATH after STATE offline');
    // Read by the new connection (retained: whenever it subscribes): a birth it would make
    // without an online STATE is made by then.
    await stateReadThenSync(true);
    expect(h.of('NBIRTH')).toHaveLength(1);
    await state(true, 3000);
    await waitFor(() => h.of('NBIRTH').length === 2, 'NBIRTH after STATE online again');
    expect(h.bdSeqOf(h.of('NBIRTH')[1]!)).toBeGreaterThan(h.bdSeqOf(h.of('NBIRTH')[0]!)!);
    await h.client.publishAsync(`spBv1.0/STATE/${hostId}`, '', { qos: 1, retain: true });
  });

  it('a value that does not fit the metric dead-letters that message only', async () => {
    const group = unique('g');
    const h = await host(group);
    const s = sink({ groupId: group, edgeNodeId: 'e1', device: 'line1' });
    await connect(s);
    await write(s, [opcua('Count', 5, 'Int32')]);
    const error = await write(s, [
      opcua('Count', 6, 'Int32'),
      opcua('Count', 'many', 'Int32'),
      opcua('Count', 3.5, 'Int32'),
    ]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchError);
    const failures = (error as BatchError).failures;
    expect(failures.map((f) => f.index)).toEqual([1, 2]);
    expect(failures.every((f) => f.error instanceof FatalError)).toBe(true);
    expect(failures[0]!.error.message).toMatch(/Count.*Int32/);
    await waitFor(() => h.values('e1', 'line1', 'Count').includes(6), 'the good value');
    expect(h.values('e1', 'line1', 'Count')).toEqual([5, 6]);
  });

  it('maxMetrics: a message that would add one metric too many is dead-lettered, known metrics go on', async () => {
    const group = unique('g');
    const h = await host(group);
    const s = sink({ groupId: group, edgeNodeId: 'e1', device: 'line1', maxMetrics: 2 });
    await connect(s);
    const error = (await write(s, [opcua('A', 1), opcua('B', 2), opcua('C', 3), opcua('A', 4)]).catch(
      (e: unknown) => e,
    )) as BatchError;
    expect(error.failures.map((f) => [f.index, f.error.message])).toEqual([
      [2, expect.stringMatching(/metric "C" of device line1 would be metric 3 .*maxMetrics 2/)],
    ]);
    await waitFor(() => h.values('e1', 'line1', 'A').includes(4), 'the known metrics');
    expect(h.of('DBIRTH')[0]!.metrics.map((m) => m.name)).toEqual(['A', 'B']);
  });

  it('refuses reserved names and device ids with / + #', async () => {
    const group = unique('g');
    await host(group);
    const s = sink({ groupId: group, edgeNodeId: 'e1', device: '{{ payload.line }}' });
    await connect(s);
    const error = (await write(s, [
      createMessage({ id: '1', payload: { line: 'a/b', node: 'x', value: 1 } }),
      createMessage({ id: '2', payload: { line: 'a+', node: 'x', value: 1 } }),
    ]).catch((e: unknown) => e)) as BatchError;
    expect(error.failures.map((f) => f.error.message)).toEqual([
      expect.stringMatching(/device id.*"a\/b"/),
      expect.stringMatching(/device id.*"a\+"/),
    ]);
    const node = sink({ groupId: group, edgeNodeId: 'e2' });
    await connect(node);
    const reserved = (await write(node, [
      createMessage({ id: '3', payload: { node: 'bdSeq', value: 1 } }),
    ]).catch((e: unknown) => e)) as BatchError;
    expect(reserved.failures[0]!.error.message).toMatch(/reserved/);
  });
});
