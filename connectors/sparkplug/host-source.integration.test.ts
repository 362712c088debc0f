import { createRequire } from 'node:module';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../src/sdk/index.js';
import { createFakeContext, waitFor, type FakeContext } from '../../test/conformance/context.js';
import { startRefusingBroker } from '../../test/harness/refusing-broker.js';
import { startMosquitto, type ServiceHandle } from '../../test/harness/services.js';
import { decodeMetric } from './datatypes.js';
import { SparkplugSource } from './host-source.js';
import { sparkplugSourceConfig } from './host-spec.js';
import { sparkplugSource } from './index.js';
import { decodePayload, encodePayload, type PayloadInput } from './payload.js';

// Cirrus Link's edge-node client (on mqtt 4 and Tahu's codec): an independent peer.
const require = createRequire(import.meta.url);
const { newClient } = require('sparkplug-client') as { newClient(config: object): EdgeClient };
interface EdgeClient {
  on(event: string, listener: (...args: unknown[]) => void): void;
  publishNodeBirth(payload: object): void;
  publishNodeData(payload: object): void;
  publishDeviceBirth(device: string, payload: object): void;
  publishDeviceData(device: string, payload: object): void;
  stop(): void;
}

let broker: ServiceHandle;
let raw: MqttClient;
let n = 0;
const unique = (name: string): string => `${name}-${process.pid}-${++n}`;

beforeAll(async () => {
  broker = await startMosquitto();
  raw = await mqtt.connectAsync(broker.url, { clientId: unique('raw') });
});

afterAll(async () => {
  await raw?.endAsync();
  await broker?.dispose();
});

function source(config: Record<string, unknown>, ctx: FakeContext = createFakeContext()): SparkplugSource {
  return sparkplugSource.create(
    sparkplugSourceConfig.parse({ url: broker.url, reconnectDelay: '100ms', ...config }),
    ctx,
  ) as SparkplugSource;
}

/** Reads messages until `until` holds for what was read, acknowledging everything. */
async function collect(
  s: SparkplugSource,
  until: (all: Message[]) => boolean,
  timeoutMs = 15_000,
): Promise<Message[]> {
  const all: Message[] = [];
  const signal = AbortSignal.timeout(timeoutMs);
  while (!until(all)) {
    const delivery = await s.read(signal);
    if (!delivery) throw new Error(`no more deliveries; got ${all.length} messages`);
    all.push(...delivery.messages);
    delivery.ack();
  }
  return all;
}

function edge(group: string, node: string): Promise<EdgeClient> {
  const client = newClient({
    serverUrl: broker.url,
    username: '',
    password: '',
    groupId: group,
    edgeNode: node,
    clientId: unique('edge'),
    version: 'spBv1.0',
    keepalive: 1,
  });
  return new Promise((resolve) => client.on('birth', () => resolve(client)));
}

const metricsOf = (ms: Message[]) =>
  ms
    .map((m) => [m.payload as Record<string, unknown>])
    .map(([p]) => [p!.device, p!.metric, p!.value, p!.quality]);

describe('sparkplug source against Mosquitto and a Cirrus Link edge node', () => {
  it('birth, data, device birth and data, 300 messages across the seq wrap, then the Will (NDEATH) makes every metric stale', async () => {
    const group = unique('G');
    const ctx = createFakeContext();
    const s = source({ groups: [group] }, ctx);
    await s.connect(AbortSignal.timeout(10_000));
    const node = await edge(group, 'E1');
    node.publishNodeBirth({
      timestamp: Date.now(),
      metrics: [
        { name: 'Temp', type: 'Float', value: 20.5, alias: 1 },
        { name: 'Big', type: 'Int64', value: -5, alias: 2 },
      ],
    });
    node.publishDeviceBirth('D1', {
      timestamp: Date.now(),
      metrics: [{ name: 'Running', type: 'Boolean', value: true }],
    });
    for (let i = 0; i < 300; i++)
      node.publishNodeData({ timestamp: Date.now(), metrics: [{ alias: 1, type: 'Float', value: i }] });
    node.publishDeviceData('D1', {
      timestamp: Date.now(),
      metrics: [{ name: 'Running', type: 'Boolean', value: false }],
    });
    const got = await collect(s, (all) =>
      all.some(
        (m) =>
          (m.payload as { device?: string }).device === 'D1' &&
          (m.payload as { value?: unknown }).value === false,
      ),
    );
    const list = metricsOf(got);
    expect(list.slice(0, 3)).toEqual([
      [null, 'Temp', 20.5, 'good'],
      [null, 'Big', '-5', 'good'],
      ['D1', 'Running', true, 'good'],
    ]);
    expect(list.slice(3, 303).map((x) => x[2])).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(s.counts.get('seq_gap')).toBeUndefined();
    expect(s.counts.get('ndata')).toBe(300);
    // The edge node's connection dies: the broker publishes its Will, an NDEATH with the birth's bdSeq.
    (node as unknown as { client: { stream: { destroy(): void } } }).client.stream.destroy();
    const stale = await collect(s, (all) => all.length >= 3, 20_000);
    expect(metricsOf(stale)).toEqual([
      [null, 'Temp', 299, 'stale'],
      [null, 'Big', '-5', 'stale'],
      ['D1', 'Running', false, 'stale'],
    ]);
    expect(s.counts.get('ndeath')).toBe(1);
    node.stop();
    await s.close();
  });

  it('a host that loses the broker marks what it knew stale, then reads the new births', async () => {
    const group = unique('G');
    const s = source({ groups: [group], reconnectDelay: '100ms' });
    await s.connect(AbortSignal.timeout(10_000));
    const node = await edge(group, 'E4');
    node.publishNodeBirth({ timestamp: Date.now(), metrics: [{ name: 'Speed', type: 'Int32', value: 12 }] });
    expect(metricsOf(await collect(s, (all) => all.length >= 1))).toEqual([[null, 'Speed', 12, 'good']]);
    (s as unknown as { link: { conn: { client: MqttClient } } }).link.conn.client.stream.destroy();
    expect(metricsOf(await collect(s, (all) => all.length >= 1))).toEqual([[null, 'Speed', 12, 'stale']]);
    await waitFor(
      () => (s as unknown as { link: { conn: { client: MqttClient } } }).link.conn.client.connected,
      'the reconnection',
    );
    // The subscription is renewed in the background after the reconnection: publish until it is in.
    const births = setInterval(
      () =>
        node.publishNodeBirth({
          timestamp: Date.now(),
          metrics: [{ name: 'Speed', type: 'Int32', value: 13 }],
        }),
      200,
    );
    try {
      expect(metricsOf(await collect(s, (all) => all.length >= 1))[0]).toEqual([null, 'Speed', 13, 'good']);
    } finally {
      clearInterval(births);
    }
    node.stop();
    await s.close();
  });

  it('a host started after the birth asks for a rebirth, and the edge node answers it', async () => {
    const group = unique('G');
    const node = await edge(group, 'E2');
    node.on('ncmd', (payload) => {
      const metric = (payload as { metrics: { name: string; value: unknown }[] }).metrics[0]!;
      if (metric.name === 'Node Control/Rebirth' && metric.value === true)
        node.publishNodeBirth({
          timestamp: Date.now(),
          metrics: [{ name: 'Level', type: 'Double', value: 3.5, alias: 4 }],
        });
    });
    node.publishNodeBirth({
      timestamp: Date.now(),
      metrics: [{ name: 'Level', type: 'Double', value: 1, alias: 4 }],
    });
    const ctx = createFakeContext();
    const s = source({ groups: [group], requestRebirth: true, rebirthInterval: '200ms' }, ctx);
    await s.connect(AbortSignal.timeout(10_000));
    // Data the host can not resolve: it never saw the birth.
    node.publishNodeData({ timestamp: Date.now(), metrics: [{ alias: 4, type: 'Double', value: 2 }] });
    const got = await collect(s, (all) => all.length >= 1);
    expect(metricsOf(got)).toEqual([[null, 'Level', 3.5, 'good']]);
    expect(got[0]!.meta['sparkplug.messageType']).toBe('NBIRTH');
    expect(s.counts.get('data_before_birth')).toBe(1);
    expect(s.counts.get('rebirth_request')).toBe(1);
    expect(ctx.dropped).toEqual([{ count: 1, reason: expect.stringContaining('NDATA before the NBIRTH') }]);
    node.stop();
    await s.close();
  });

  it('seq gap, aliases, DDATA before DBIRTH and a malformed payload, from a raw publisher', async () => {
    const group = unique('G');
    const ctx = createFakeContext();
    const s = source({ groups: [group], requestRebirth: true }, ctx);
    await s.connect(AbortSignal.timeout(10_000));
    const commands: Buffer[] = [];
    const cmdClient = await mqtt.connectAsync(broker.url, { clientId: unique('cmd') });
    cmdClient.on('message', (_t, p) => commands.push(p));
    await cmdClient.subscribeAsync(`spBv1.0/${group}/NCMD/E3`, { qos: 0 });
    // Data leaves the datatype out of aliased metrics, as edge nodes do; births carry it.
    const pub = (type: string, p: PayloadInput, device?: string) =>
      raw.publishAsync(
        `spBv1.0/${group}/${type}/E3${device ? `/${device}` : ''}`,
        Buffer.from(
          encodePayload({ timestamp: 1_764_930_600_000, ...p }, { omitDatatype: type.endsWith('DATA') }),
        ),
        { qos: 1 },
      );
    await pub('NBIRTH', {
      seq: 0,
      metrics: [
        { name: 'bdSeq', datatype: 'Int64', value: 0 },
        { name: 'A', alias: 1, datatype: 'UInt32', value: 4294967295 },
      ],
    });
    await pub('DDATA', { seq: 1, metrics: [{ alias: 2, datatype: 'Int8', value: -1 }] }, 'D');
    await pub('DBIRTH', { seq: 2, metrics: [{ name: 'B', alias: 2, datatype: 'Int8', value: -1 }] }, 'D');
    await pub('NDATA', { seq: 3, metrics: [{ alias: 1, datatype: 'UInt32', value: 7 }] });
    await pub('DDATA', { seq: 9, metrics: [{ alias: 2, datatype: 'Int8', value: -128 }] }, 'D');
    await raw.publishAsync(`spBv1.0/${group}/NDATA/E3`, Buffer.from('12ffffffff0f', 'hex'), { qos: 1 });
    const got = await collect(s, (all) => all.length >= 4);
    expect(metricsOf(got)).toEqual([
      [null, 'A', 4294967295, 'good'],
      ['D', 'B', -1, 'good'],
      [null, 'A', 7, 'good'],
      ['D', 'B', -128, 'good'],
    ]);
    await waitFor(() => ctx.deadLetters.length === 1, 'the dead letter');
    expect(ctx.deadLetters[0]!.reason).toMatch(
      /^NDATA from .*\/E3: not a Sparkplug B payload: .*declares 4294967295 bytes/,
    );
    expect(Buffer.from(ctx.deadLetters[0]!.message.payload as Uint8Array).toString('hex')).toBe(
      '12ffffffff0f',
    );
    expect(s.counts.get('data_before_birth')).toBe(1);
    expect(s.counts.get('seq_gap')).toBe(1);
    expect(s.counts.get('malformed')).toBe(1);
    // One Rebirth for the DDATA before DBIRTH; the gap came within rebirthInterval (10 s) of it.
    await waitFor(() => commands.length >= 1, 'the NCMD');
    const cmd = decodePayload(commands[0]!, { maxBytes: 1000 });
    if (!cmd.ok) throw new Error(cmd.reason);
    expect(decodeMetric(cmd.payload.metrics[0]!)).toMatchObject({
      name: 'Node Control/Rebirth',
      value: true,
    });
    expect(s.counts.get('rebirth_request')).toBe(1);
    const text = await ctx.registry.metrics();
    expect(text).toMatch(/passerelle_sparkplug_host_events_total\{[^}]*event="seq_gap"[^}]*\} 1/);
    await cmdClient.endAsync();
    await s.close();
  });

  it('as primary host: retained STATE online after subscribing, offline on close, and the Will (same timestamp) when killed', async () => {
    const hostId = unique('host');
    const states: { online: boolean; timestamp: number }[] = [];
    const watcher = await mqtt.connectAsync(broker.url, { clientId: unique('watch') });
    watcher.on('message', (_t, p) =>
      states.push(JSON.parse(p.toString()) as { online: boolean; timestamp: number }),
    );
    await watcher.subscribeAsync(`spBv1.0/STATE/${hostId}`, { qos: 1 });
    const s = source({ groups: ['+'], primaryHost: { hostId } });
    await s.connect(AbortSignal.timeout(10_000));
    await waitFor(() => states.length === 1, 'STATE online');
    expect(states[0]).toEqual({ online: true, timestamp: expect.any(Number) });
    await s.close();
    await waitFor(() => states.length === 2, `STATE offline (have ${JSON.stringify(states)})`);
    expect(states[1]).toEqual({ online: false, timestamp: states[0]!.timestamp });
    // Retained: a late subscriber sees the last state.
    const late = await mqtt.connectAsync(broker.url, { clientId: unique('late') });
    const retained = new Promise<string>((resolve) => late.on('message', (_t, p) => resolve(p.toString())));
    await late.subscribeAsync(`spBv1.0/STATE/${hostId}`, { qos: 1 });
    expect(JSON.parse(await retained)).toEqual({ online: false, timestamp: states[0]!.timestamp });
    await late.endAsync();
    // A second run killed without a goodbye: the broker publishes the Will.
    const s2 = source({ groups: ['+'], primaryHost: { hostId }, keepalive: '1s' });
    await s2.connect(AbortSignal.timeout(10_000));
    await waitFor(() => states.length >= 3, 'STATE online again');
    expect(states[2]!.online).toBe(true);
    // Clean session (MQTT 5: clean start and a session expiry of 0), with the STATE Will.
    const options = (s2 as unknown as { link: { conn: { client: MqttClient } } }).link.conn.client.options;
    expect(options.clean).toBe(true);
    expect(options.properties?.sessionExpiryInterval).toBe(0);
    expect(options.will).toMatchObject({ topic: `spBv1.0/STATE/${hostId}`, qos: 1, retain: true });
    // Someone says we are offline: the host answers with online and its own timestamp.
    const before = states.length;
    await raw.publishAsync(`spBv1.0/STATE/${hostId}`, JSON.stringify({ online: false, timestamp: 1 }), {
      qos: 1,
    });
    await waitFor(() => states.slice(before + 1).some((st) => st.online), 'the answer to an offline STATE');
    expect(states.slice(before + 1).find((st) => st.online)).toEqual({
      online: true,
      timestamp: states[2]!.timestamp,
    });
    const killedAt = states.length;
    (s2 as unknown as { link: { conn: { client: MqttClient } } }).link.conn.client.stream.destroy();
    await waitFor(() => states.slice(killedAt).some((st) => !st.online), 'the Will', 15_000);
    expect(states.slice(killedAt).find((st) => !st.online)).toEqual({
      online: false,
      timestamp: states[2]!.timestamp,
    });
    await s2.close();
    await watcher.endAsync();
  });
});

describe('sparkplug source and a refused subscription', () => {
  it('fails connect() naming the refused filters, and leaves no connection behind', async () => {
    const refusing = await startRefusingBroker('spBv1.0/forbidden/');
    try {
      const s = source({ url: refusing.url, protocolVersion: 4, groups: ['forbidden'] });
      await expect(s.connect(AbortSignal.timeout(10_000))).rejects.toThrow(
        /^the broker refused the subscription to spBv1\.0\/forbidden\/#: /,
      );
      await expect(s.read(AbortSignal.timeout(10_000))).resolves.toBeNull();
      const ok = source({ url: refusing.url, protocolVersion: 4, groups: ['allowed'] });
      await ok.connect(AbortSignal.timeout(10_000));
      await ok.close();
    } finally {
      await refusing.close();
    }
  });
});
