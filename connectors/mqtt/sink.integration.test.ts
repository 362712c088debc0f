import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BatchError,
  FatalError,
  NotConnectedError,
  createMessage,
  jsonMessage,
  type Message,
} from '../../src/sdk/index.js';
import { startMosquitto, type ServiceHandle } from '../../test/harness/services.js';
import { createFakeContext, waitFor, type FakeContext } from '../../test/conformance/context.js';
import { sinkConformance } from '../../test/conformance/sink.js';
import { mqttSink } from './index.js';
import { MqttSink } from './sink.js';
import { mqttSinkConfig } from './spec.js';
import { TcpProxy } from '../../test/harness/tcp-proxy.js';

let broker: ServiceHandle;
let proxy: TcpProxy;
const watchers: MqttClient[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
  proxy = new TcpProxy(broker.port);
  await proxy.start();
});

afterAll(async () => {
  for (const w of watchers) await w.endAsync(true);
  await proxy?.stop();
  await broker?.dispose();
});

function sink(config: Record<string, unknown>, ctx: FakeContext = createFakeContext()): MqttSink {
  const parsed = mqttSinkConfig.parse({
    url: broker.url,
    reconnectDelay: '100ms',
    reconnectMaxDelay: '500ms',
    ...config,
  });
  return mqttSink.create(parsed, ctx) as MqttSink;
}

const connect = (s: MqttSink): Promise<void> => s.connect(AbortSignal.timeout(10_000));
const write = (s: MqttSink, batch: Message[]): Promise<void> => s.write(batch, AbortSignal.timeout(10_000));
const msg = (payload: unknown, meta: Record<string, unknown> = {}, id = String(Math.random())): Message =>
  createMessage({ id, payload, meta });
let n = 0;
const unique = (name: string): string => `${name}-${process.pid}-${++n}`;

/** Subscribes to `base/#` on the broker directly; the returned array fills as messages arrive. */
async function watch(base: string): Promise<IPublishPacket[]> {
  const seen: IPublishPacket[] = [];
  const w = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  watchers.push(w);
  w.on('message', (_topic, _payload, packet) => seen.push(packet));
  await w.subscribeAsync(`${base}/#`, { qos: 1 });
  return seen;
}

const conformanceTopic = unique('conformance');
let conformanceSeen: IPublishPacket[] = [];
beforeAll(async () => {
  conformanceSeen = await watch(conformanceTopic);
});
sinkConformance('mqtt (QoS 1, through a TCP proxy)', () => ({
  create: (ctx) =>
    sink(
      { url: `mqtt://127.0.0.1:${proxy.port}`, topic: `${conformanceTopic}/{{ payload.v }}`, qos: 1 },
      ctx,
    ),
  messages: (values) => values.map((v) => msg({ v })),
  received: async () => conformanceSeen.map((p) => (JSON.parse(p.payload.toString()) as { v: string }).v),
  holdAcceptance: async () => proxy.pause(),
  heldAnswers: () => proxy.heldAnswers,
  releaseAcceptance: async () => proxy.resume(),
  stopTarget: () => proxy.stop(),
  startTarget: () => proxy.start(),
}));

describe('mqtt sink', () => {
  it('declares its delivery guarantee from qos', () => {
    const parse = (c: Record<string, unknown>) => mqttSinkConfig.parse({ url: 'mqtt://h', topic: 't', ...c });
    expect(mqttSink.delivery(parse({ qos: 1 }))).toBe('at-least-once');
    expect(mqttSink.delivery(parse({ qos: 2 }))).toBe('at-least-once');
    expect(mqttSink.delivery(parse({ qos: 0 }))).toBe('best-effort');
  });

  it('publishes to a template topic with retain, user properties and message expiry', async () => {
    const base = unique('tpl');
    const seen = await watch(base);
    const s = sink({
      topic: `${base}/{{ topic[1] }}/{{ payload.line }}`,
      retain: true,
      qos: 2,
      userProperties: { origin: '{{ meta.mqtt.topic }}', pipeline: 'p1' },
      messageExpiry: '1h',
    });
    await connect(s);
    await write(s, [
      msg({ line: 'L1', v: 1 }, { 'mqtt.topic': 'plant/press/raw' }),
      msg({ line: 'L2', v: 2 }, { 'mqtt.topic': 'plant/oven/raw' }),
    ]);
    await waitFor(() => seen.length === 2, 'both messages');
    const [a, b] = seen;
    expect(a?.topic).toBe(`${base}/press/L1`);
    expect(b?.topic).toBe(`${base}/oven/L2`);
    expect(JSON.parse(a!.payload.toString())).toEqual({ line: 'L1', v: 1 });
    expect(a?.properties?.userProperties).toEqual({ origin: 'plant/press/raw', pipeline: 'p1' });
    const expiry = a?.properties?.messageExpiryInterval ?? 0;
    expect(expiry).toBeGreaterThan(3500);
    expect(expiry).toBeLessThanOrEqual(3600);
    // Retained: a new subscriber gets the last message of the topic.
    const late = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    const retained = new Promise<IPublishPacket>((resolve) =>
      late.on('message', (_t, _p, packet) => resolve(packet)),
    );
    await late.subscribeAsync(`${base}/press/L1`);
    const r = await retained;
    expect(r.retain).toBe(true);
    expect(JSON.parse(r.payload.toString())).toEqual({ line: 'L1', v: 1 });
    await late.endAsync();
    await s.close();
  });

  it('encodes text and bytes payloads', async () => {
    const base = unique('enc');
    const seen = await watch(base);
    const text = sink({ topic: `${base}/text`, payload: 'text', qos: 0 });
    const bytes = sink({ topic: `${base}/bytes`, payload: 'bytes' });
    await connect(text);
    await connect(bytes);
    await write(text, [msg('héllo'), msg(42)]);
    await write(bytes, [msg(Uint8Array.from([1, 2, 255])), msg('raw')]);
    await waitFor(() => seen.length === 4, 'four messages');
    expect(seen.filter((p) => p.topic.startsWith(`${base}/text`)).map((p) => p.payload.toString())).toEqual([
      'héllo',
      '42',
    ]);
    expect(
      seen.filter((p) => p.topic.startsWith(`${base}/bytes`)).map((p) => Buffer.from(p.payload)),
    ).toEqual([Buffer.from([1, 2, 255]), Buffer.from('raw')]);
    await text.close();
    await bytes.close();
  });

  it('publishes JSON as exact UTF-8 bytes: received text as it came, replaced payloads serialised', async () => {
    const base = unique('json');
    const seen = await watch(base);
    const text = '{ "t": "h\u00e9llo \u20ac \ud83d\ude00", "n": 1.50 }';
    const carried = jsonMessage('c', JSON.parse(text), text, {}, 1);
    const replaced = msg({ t: 'd\u00e9j\u00e0 \ud83d\ude00', n: 2 });
    for (const qos of [0, 1]) {
      const s = sink({ topic: `${base}/q${qos}`, qos });
      await connect(s);
      await write(s, [carried, replaced]);
      await s.close();
    }
    await waitFor(() => seen.length === 4, 'four messages');
    for (const qos of [0, 1])
      expect(seen.filter((p) => p.topic === `${base}/q${qos}`).map((p) => Buffer.from(p.payload))).toEqual([
        Buffer.from(text, 'utf8'),
        Buffer.from('{"t":"d\u00e9j\u00e0 \ud83d\ude00","n":2}', 'utf8'),
      ]);
  });

  it('fails the messages it can not publish with FatalError in a BatchError, and publishes the rest', async () => {
    const base = unique('bad');
    const seen = await watch(base);
    // `levels`: the device values carry the whole topic here, so that one can be empty.
    const s = sink({ topic: '{{ payload.device }}', payload: 'json', topicValues: 'levels' });
    await connect(s);
    const d = (name: string): string => `${base}/${name}`;
    const error = await write(s, [
      msg({ device: d('ok1') }),
      msg({ other: 1 }),
      msg({ device: d('a+b') }),
      msg({ device: d('big'), n: 1n }),
      msg({ device: d('ok2') }),
    ]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BatchError);
    const failures = (error as BatchError).failures;
    expect(failures.map((f) => f.index)).toEqual([1, 2, 3]);
    expect(failures.every((f) => f.error instanceof FatalError)).toBe(true);
    expect(failures[0]?.error.message).toMatch(/payload\.device is missing in this message/);
    expect(failures[1]?.error.message).toMatch(/wildcard/);
    expect(failures[2]?.error.message).toMatch(/can not be encoded as JSON.*BigInt/);
    await waitFor(() => seen.length === 2, 'the two good messages');
    expect(seen.map((p) => p.topic)).toEqual([`${base}/ok1`, `${base}/ok2`]);
    await s.close();
  });

  it('throws NotConnectedError while the broker is stopped and works again once it is back', async () => {
    const base = unique('outage');
    const ctx = createFakeContext();
    const s = sink({ topic: `${base}/{{ payload.i }}` }, ctx);
    await connect(s);
    await write(s, [msg({ i: 0 })]);
    await broker.stop();
    try {
      await ctx.waitForState('reconnecting');
      await expect(write(s, [msg({ i: 1 })])).rejects.toBeInstanceOf(NotConnectedError);
      await expect(write(s, [msg({ i: 1 })])).rejects.toThrow(/not connected to mqtt:\/\/127\.0\.0\.1/);
    } finally {
      await broker.restart();
    }
    await ctx.waitForState('connected');
    const after = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    const got: string[] = [];
    after.on('message', (topic) => got.push(topic));
    await after.subscribeAsync(`${base}/#`, { qos: 1 });
    await write(s, [msg({ i: 2 })]);
    await waitFor(() => got.length === 1, 'the message written after the restart');
    expect(got).toEqual([`${base}/2`]);
    await after.endAsync();
    await s.close();
  });

  it('publishes a large batch with bounded pipelining', async () => {
    const base = unique('bulk');
    const seen = await watch(base);
    const s = sink({ topic: `${base}/x`, maxUnacked: 50 });
    await connect(s);
    const client = (s as unknown as { conn: { client: MqttClient } }).conn.client;
    const total = 5000;
    let sent = 0;
    let inFlight = 0;
    let peak = 0;
    // What made a batch slow is waiting for acknowledgements before sending more (one publish at a
    // time, or window by window): each time the window drains to zero with publishes still to send
    // is one more round trip to the broker. A sliding window refills as each PUBACK comes in, so
    // the batch costs one round trip however slow the machine is (counted, not timed).
    let roundTrips = 0;
    client.on('packetsend', (p) => {
      if (p.cmd !== 'publish') return;
      if (inFlight === 0) roundTrips++;
      sent++;
      peak = Math.max(peak, ++inFlight);
    });
    client.on('packetreceive', (p) => {
      if (p.cmd === 'puback') inFlight--;
    });
    // Socket writes: the publishes that acknowledgements read together make room for share one.
    const socket = client.stream as unknown as Record<
      '_write' | '_writev',
      ((...args: unknown[]) => unknown) | undefined
    >;
    let socketWrites = 0;
    for (const key of ['_write', '_writev'] as const) {
      const original = socket[key];
      if (!original) continue;
      socket[key] = function (this: unknown, ...args: unknown[]) {
        socketWrites++;
        return original.apply(this, args);
      };
    }
    await write(
      s,
      Array.from({ length: total }, (_, i) => msg({ i })),
    );
    expect(sent).toBe(total);
    expect(inFlight).toBe(0);
    expect(peak).toBe(50);
    expect(roundTrips).toBe(1);
    // One write per publish before (4,951 of 5,000); ~130 on a quiet machine now, 574 once with both
    // cores busy (acknowledgements then come fewer at a time).
    expect(socketWrites).toBeLessThan(total / 5);
    await waitFor(() => seen.length === total, `${total} messages`);
    expect(seen.map((p) => (JSON.parse(p.payload.toString()) as { i: number }).i)).toEqual(
      Array.from({ length: total }, (_, i) => i),
    );
    await s.close();
  });

  it('at QoS 0, waits for a full socket to drain rather than buffering more publishes', async () => {
    const base = unique('drain');
    const seen = await watch(base);
    const s = sink({ topic: `${base}/x`, qos: 0, maxUnacked: 100 });
    await connect(s);
    const stream = (s as unknown as { conn: { client: MqttClient } }).conn.client.stream;
    // mqtt.js adds a once('drain') listener for each QoS 0 publish the full socket did not take:
    // one at a time is what the sink's pacing allows (counted, not timed).
    let peak = 0;
    let filled = 0;
    const once = stream.once.bind(stream);
    stream.once = ((event: string, listener: (...args: unknown[]) => void) => {
      if (event === 'drain') {
        filled++;
        peak = Math.max(peak, stream.listenerCount('drain') + 1);
      }
      return once(event, listener);
    }) as typeof stream.once;
    const total = 3000;
    const pad = 'x'.repeat(200);
    await write(
      s,
      Array.from({ length: total }, (_, i) => msg({ i, pad })),
    );
    expect(filled).toBeGreaterThan(0);
    expect(peak).toBe(1);
    await waitFor(() => seen.length === total, `${total} messages`);
    expect(seen.map((p) => (JSON.parse(p.payload.toString()) as { i: number }).i)).toEqual(
      Array.from({ length: total }, (_, i) => i),
    );
    await s.close();
  });
});

describe("mqtt sink on a broker with Mosquitto's defaults", () => {
  let plain: ServiceHandle;
  beforeAll(async () => {
    // Nagle on, max_inflight_messages 20 (announced as Receive Maximum 20 to MQTT 5 clients).
    plain = await startMosquitto({ brokerDefaults: true });
  });
  afterAll(async () => {
    await plain?.dispose();
  });

  it('keeps the acknowledgements coming when it has nothing more to publish: it sends a PINGREQ', async () => {
    const s = sink({ url: plain.url, topic: unique('tail'), qos: 1 });
    await connect(s);
    const client = (s as unknown as { conn: { client: MqttClient } }).conn.client;
    // The broker's Nagle holds its next PUBACKs until our side acknowledges the segment it sent
    // last, and our kernel delays that acknowledgement (40 ms on Linux) unless we send something.
    // While publishing, each publish carries it; at the end of a batch (or with a full window) the
    // sink must send something else, or every batch waits that long (issue 17: the relay was 4.6 x
    // slower than one that never stops publishing). Counted, not timed.
    let inFlight = 0;
    let peak = 0;
    let pings = 0;
    client.on('packetsend', (p) => {
      if (p.cmd === 'publish') peak = Math.max(peak, ++inFlight);
      if (p.cmd === 'pingreq') pings++;
    });
    client.on('packetreceive', (p) => {
      if (p.cmd === 'puback') inFlight--;
    });
    for (let b = 0; b < 5; b++)
      await write(
        s,
        Array.from({ length: 200 }, (_, i) => msg({ b, i })),
      );
    expect(client.serverProperties?.receiveMaximum).toBe(20);
    expect(peak).toBe(20);
    expect(inFlight).toBe(0);
    expect(pings).toBeGreaterThan(0);
    await s.close();
  });
});
