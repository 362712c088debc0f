import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient, type Packet } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery, Message } from '../../src/sdk/index.js';
import {
  startMosquitto,
  startSecureMosquitto,
  type SecureMosquitto,
  type ServiceHandle,
} from '../../test/harness/services.js';
import { createFakeContext, waitFor, type FakeContext } from '../../test/conformance/context.js';
import { readMessages, sourceConformance } from '../../test/conformance/source.js';
import { startRefusingBroker } from '../../test/harness/refusing-broker.js';
import { mqttSource } from './index.js';
import { MAX_PACKET_HEADROOM, MqttSource } from './source.js';
import { mqttSourceConfig } from './spec.js';

let broker: ServiceHandle & { wsPort?: number };
let publisher: MqttClient;

beforeAll(async () => {
  broker = await startMosquitto({ websocketPort: true });
  publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `pub-${process.pid}` });
});

afterAll(async () => {
  await publisher?.endAsync();
  await broker?.dispose();
});

function source(config: Record<string, unknown>, ctx: FakeContext = createFakeContext()): MqttSource {
  const parsed = mqttSourceConfig.parse({
    url: broker.url,
    reconnectDelay: '100ms',
    reconnectMaxDelay: '1s',
    ...config,
  });
  return mqttSource.create(parsed, ctx) as MqttSource;
}

/** The mqtt.js client inside a source, to watch the packets on the wire. */
function clientOf(s: MqttSource): MqttClient {
  return (s as unknown as { link: { conn: { client: MqttClient } } }).link.conn.client;
}

function sent(s: MqttSource): Packet[] {
  const packets: Packet[] = [];
  clientOf(s).on('packetsend', (p) => packets.push(p));
  return packets;
}

async function publish(topic: string, payloads: (string | Buffer)[], qos: 0 | 1 | 2 = 1): Promise<void> {
  // Pipelined, with a bound, as a real publisher would.
  const window = 500;
  for (let i = 0; i < payloads.length; i += window) {
    await Promise.all(payloads.slice(i, i + window).map((p) => publisher.publishAsync(topic, p, { qos })));
  }
}

const ackAll = (ds: Delivery[]): void => ds.forEach((d) => d.ack());

/** Reads and acknowledges up to `count` payloads, one delivery at a time, within `timeoutMs`. */
async function readAcking(s: MqttSource, count: number, timeoutMs: number): Promise<unknown[]> {
  const payloads: unknown[] = [];
  const signal = AbortSignal.timeout(timeoutMs);
  while (payloads.length < count && !signal.aborted) {
    const d = await s.read(signal);
    if (!d) break;
    payloads.push(...d.messages.map((m) => m.payload));
    d.ack();
  }
  return payloads;
}
const connect = (s: MqttSource): Promise<void> => s.connect(AbortSignal.timeout(10_000));
let n = 0;
const unique = (name: string): string => `${name}-${process.pid}-${++n}`;

sourceConformance(
  'mqtt (QoS 1, persistent session)',
  () => ({
    create: (ctx, identity) =>
      source(
        {
          topics: [`conf/${identity}`],
          qos: 1,
          cleanSession: false,
          clientId: identity,
          payload: 'text',
          receiveMaximum: 10,
          batchSize: 4,
        },
        ctx,
      ),
    produce: (identity, values) => publish(`conf/${identity}`, values),
    valueOf: (m: Message) => m.payload as string,
    maxUnacked: 10,
  }),
  { redelivers: true },
);

describe('mqtt source', () => {
  it('declares its delivery guarantee from qos and cleanSession', () => {
    const parse = (c: Record<string, unknown>) =>
      mqttSourceConfig.parse({ url: 'mqtt://h', topics: ['a'], ...c });
    expect(mqttSource.delivery(parse({ qos: 1, cleanSession: false, clientId: 'x' }))).toBe('at-least-once');
    expect(mqttSource.delivery(parse({ qos: 2, cleanSession: false, clientId: 'x' }))).toBe('at-least-once');
    expect(mqttSource.delivery(parse({ qos: 1 }))).toBe('best-effort');
    expect(mqttSource.delivery(parse({ qos: 0, cleanSession: false, clientId: 'x' }))).toBe('best-effort');
  });

  it('receives QoS 0, 1 and 2 with metadata and reports its states', async () => {
    const topic = unique('qos');
    const ctx = createFakeContext();
    const s = source({ topics: [`${topic}/#`], qos: 2 }, ctx);
    await connect(s);
    expect(ctx.states.map((x) => x.state)).toEqual(['connecting', 'connected']);
    await publisher.publishAsync(`${topic}/zero`, '{"q":0}', { qos: 0 });
    await publisher.publishAsync(`${topic}/one`, '{"q":1}', {
      qos: 1,
      properties: { userProperties: { site: 'lyon' } },
    });
    await publisher.publishAsync(`${topic}/two`, '{"q":2}', { qos: 2 });
    const { deliveries, messages } = await readMessages(s, 3);
    ackAll(deliveries);
    const byQos = new Map(messages.map((m) => [m.meta['mqtt.qos'], m]));
    expect(byQos.get(0)?.payload).toEqual({ q: 0 });
    expect(byQos.get(1)?.payload).toEqual({ q: 1 });
    expect(byQos.get(2)?.payload).toEqual({ q: 2 });
    const one = byQos.get(1)!;
    expect(one.meta).toEqual({
      'mqtt.topic': `${topic}/one`,
      'mqtt.qos': 1,
      'mqtt.retain': false,
      'mqtt.dup': false,
      'mqtt.userProperties': { site: 'lyon' },
    });
    expect(Math.abs(one.time - Date.now())).toBeLessThan(5000);
    expect(new Set(messages.map((m) => m.id)).size).toBe(3);
    await s.close();
    expect(ctx.state).toBe('stopped');
  });

  it('consecutive messages of one topic and flags share one meta; user properties get their own', async () => {
    const topic = unique('meta');
    const s = source({ topics: [`${topic}/#`], qos: 1 });
    await connect(s);
    await publish(`${topic}/a`, ['1', '2']);
    await publisher.publishAsync(`${topic}/b`, '3', { qos: 1 });
    await publisher.publishAsync(`${topic}/b`, '4', { qos: 0 });
    await publisher.publishAsync(`${topic}/b`, '5', { qos: 0 });
    await publisher.publishAsync(`${topic}/b`, '6', { qos: 0, properties: { userProperties: { k: 'v' } } });
    await publisher.publishAsync(`${topic}/b`, '7', { qos: 0, properties: { userProperties: { k: 'v' } } });
    const { deliveries, messages } = await readMessages(s, 7);
    ackAll(deliveries);
    const meta = (payload: number): Record<string, unknown> =>
      messages.find((m) => m.payload === payload)!.meta;
    const plain = (suffix: string, qos: number) => ({
      'mqtt.topic': `${topic}/${suffix}`,
      'mqtt.qos': qos,
      'mqtt.retain': false,
      'mqtt.dup': false,
    });
    expect([1, 2, 3, 4, 5, 6, 7].map(meta)).toEqual([
      plain('a', 1),
      plain('a', 1),
      plain('b', 1),
      plain('b', 0),
      plain('b', 0),
      { ...plain('b', 0), 'mqtt.userProperties': { k: 'v' } },
      { ...plain('b', 0), 'mqtt.userProperties': { k: 'v' } },
    ]);
    expect(meta(2)).toBe(meta(1));
    expect(meta(5)).toBe(meta(4));
    expect(new Set([1, 3, 4, 6, 7].map(meta)).size).toBe(5);
    await s.close();
  });

  it('holds the PUBACK until the delivery is acked (internals check of the interception)', async () => {
    const topic = unique('held');
    const s = source({ topics: [topic], qos: 1, cleanSession: false, clientId: unique('held-client') });
    await connect(s);
    const wire = sent(s);
    await publish(topic, ['"a"', '"b"']);
    const { deliveries, messages } = await readMessages(s, 2);
    expect(messages).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 100));
    // Received and handed over, not yet acknowledged to the broker.
    expect(wire.filter((p) => p.cmd === 'puback')).toEqual([]);
    expect(s.heldAcks).toBe(2);
    ackAll(deliveries);
    await waitFor(() => wire.filter((p) => p.cmd === 'puback').length === 2, 'the PUBACKs');
    expect(s.heldAcks).toBe(0);
    await s.close();
  });

  it('never sends the PUBACK of a failed delivery: the broker redelivers it to the same client id (dup)', async () => {
    const topic = unique('redeliver');
    const clientId = unique('redeliver-client');
    const first = source({ topics: [topic], qos: 1, cleanSession: false, clientId });
    await connect(first);
    const wire = sent(first);
    await publish(topic, ['1', '2', '3']);
    const got = await readMessages(first, 3);
    got.deliveries.forEach((d) => d.ack(new Error('could not store')));
    await new Promise((r) => setTimeout(r, 100));
    expect(wire.filter((p) => p.cmd === 'puback')).toEqual([]);
    await first.close();

    const second = source({ topics: [topic], qos: 1, cleanSession: false, clientId });
    await connect(second);
    const again = await readMessages(second, 3);
    expect(again.messages.map((m) => m.payload)).toEqual([1, 2, 3]);
    expect(again.messages.every((m) => m.meta['mqtt.dup'] === true)).toBe(true);
    ackAll(again.deliveries);
    await waitFor(() => second.heldAcks === 0, 'the acks to be sent');
    await second.close();

    // Acknowledged now: a third connection gets nothing back.
    const third = source({ topics: [topic], qos: 1, cleanSession: false, clientId });
    await connect(third);
    expect((await readMessages(third, 1, 500)).messages).toEqual([]);
    await third.close();
  });

  it('QoS 2: holds the PUBREC until stored, so an unacked message comes back; then PUBREC, PUBREL, PUBCOMP', async () => {
    const topic = unique('qos2');
    const clientId = unique('qos2-client');
    const first = source({ topics: [topic], qos: 2, cleanSession: false, clientId });
    await connect(first);
    const wire = sent(first);
    await publisher.publishAsync(topic, '"exactly"', { qos: 2 });
    const got = await readMessages(first, 1);
    expect(got.messages.map((m) => m.meta['mqtt.qos'])).toEqual([2]);
    await new Promise((r) => setTimeout(r, 100));
    expect(wire.filter((p) => p.cmd === 'pubrec')).toEqual([]);
    await first.close(); // without ack

    // Had the PUBREC gone out, the broker would only resend PUBREL and the message would be lost.
    const second = source({ topics: [topic], qos: 2, cleanSession: false, clientId });
    await connect(second);
    const wire2 = sent(second);
    const again = await readMessages(second, 1);
    expect(again.messages.map((m) => m.payload)).toEqual(['exactly']);
    expect(again.messages[0]?.meta['mqtt.dup']).toBe(true);
    ackAll(again.deliveries);
    await waitFor(() => wire2.some((p) => p.cmd === 'pubcomp'), 'the PUBCOMP');
    expect(wire2.filter((p) => p.cmd === 'pubrec' || p.cmd === 'pubcomp').map((p) => p.cmd)).toEqual([
      'pubrec',
      'pubcomp',
    ]);
    // The PUBREL does not deliver the message a second time.
    expect((await readMessages(second, 1, 300)).messages).toEqual([]);
    await second.close();

    const third = source({ topics: [topic], qos: 2, cleanSession: false, clientId });
    await connect(third);
    expect((await readMessages(third, 1, 500)).messages).toEqual([]);
    await third.close();
  });

  it('receives 10 000 QoS 1 messages in order, and sends the PUBACKs in PUBLISH order even when acks come out of order', async () => {
    const topic = unique('bulk');
    const clientId = unique('bulk-client');
    const s = source({
      topics: [topic],
      qos: 1,
      cleanSession: false,
      clientId,
      receiveMaximum: 1000,
      batchSize: 250,
    });
    await connect(s);
    const client = clientOf(s);
    const publishIds: number[] = [];
    const pubackIds: number[] = [];
    client.on('packetreceive', (p) => {
      if (p.cmd === 'publish' && p.qos === 1) publishIds.push(p.messageId!);
    });
    client.on('packetsend', (p) => {
      if (p.cmd === 'puback') pubackIds.push(p.messageId!);
    });
    const total = 10_000;
    const payloads = Array.from({ length: total }, (_, i) => String(i));
    const publishing = publish(topic, payloads);
    const received: number[] = [];
    const signal = AbortSignal.timeout(30_000);
    let k = 0;
    while (received.length < total && !signal.aborted) {
      const d = await s.read(signal);
      if (!d) break;
      for (const m of d.messages) received.push(m.payload as number);
      // Every other delivery is acked a little later: the acks reach the source out of order.
      if (k++ % 2 === 0) setTimeout(() => d.ack(), 5);
      else d.ack();
    }
    await publishing;
    expect(received).toEqual(payloads.map(Number));
    await waitFor(() => pubackIds.length === total, `${total} PUBACKs`, 10_000);
    expect(pubackIds).toEqual(publishIds);
    await s.close();
  });

  it('stops reading when receiveMaximum is reached and resumes on ack (QoS 0, no broker flow control)', async () => {
    const topic = unique('full');
    const s = source({ topics: [topic], qos: 0, receiveMaximum: 5, batchSize: 5 });
    await connect(s);
    await publish(
      topic,
      Array.from({ length: 20 }, (_, i) => String(i)),
      0,
    );
    const first = await readMessages(s, 20, 500);
    expect(first.messages).toHaveLength(5);
    ackAll(first.deliveries);
    expect(await readAcking(s, 15, 5000)).toEqual(Array.from({ length: 15 }, (_, i) => i + 5));
    await s.close();
  });

  it('stays connected while its inbox is full for several keepalive periods, and loses nothing (clean session)', async () => {
    const topic = unique('held');
    const ctx = createFakeContext();
    const s = source({ topics: [topic], qos: 1, keepalive: '1s', receiveMaximum: 5, batchSize: 5 }, ctx);
    await connect(s);
    const packets = sent(s);
    const pings = (): number => packets.filter((p) => p.cmd === 'pingreq').length;
    await publish(
      topic,
      Array.from({ length: 20 }, (_, i) => String(i)),
    );
    const first = await readMessages(s, 5, 5000);
    expect(first.messages).toHaveLength(5);
    // Held while 8 PINGREQs go out: at least 2.3 keepalive periods (a third of one apart while held,
    // one period apart otherwise); mqtt.js alone gives up after 1.5 without an answer it can read.
    await waitFor(() => pings() >= 8, 'eight PINGREQs', 20_000);
    ackAll(first.deliveries);
    expect(await readAcking(s, 15, 10_000)).toEqual(Array.from({ length: 15 }, (_, i) => i + 5));
    expect(ctx.states.map((x) => x.state)).not.toContain('reconnecting');
    await s.close();
  });

  it('works over ws://', async () => {
    const topic = unique('ws');
    const s = source({ url: `ws://127.0.0.1:${broker.wsPort}`, topics: [topic] });
    await connect(s);
    await publish(topic, ['{"via":"ws"}']);
    const { deliveries, messages } = await readMessages(s, 1);
    ackAll(deliveries);
    expect(messages[0]?.payload).toEqual({ via: 'ws' });
    await s.close();
  });

  it('splits a $share subscription between two sources', async () => {
    const topic = unique('share');
    const a = source({ topics: [`$share/grp/${topic}`] });
    const b = source({ topics: [`$share/grp/${topic}`] });
    await connect(a);
    await connect(b);
    await publish(
      topic,
      Array.from({ length: 100 }, (_, i) => String(i)),
    );
    const seen: number[][] = [[], []];
    await waitFor(async () => {
      for (const [i, s] of [a, b].entries()) {
        const r = await readMessages(s, 1000, 50);
        ackAll(r.deliveries);
        seen[i]!.push(...r.messages.map((m) => m.payload as number));
      }
      return seen[0]!.length + seen[1]!.length >= 100;
    }, '100 messages between both sources');
    expect(seen[0]!.length).toBeGreaterThan(0);
    expect(seen[1]!.length).toBeGreaterThan(0);
    expect([...seen[0]!, ...seen[1]!].sort((x, y) => x - y)).toEqual(
      Array.from({ length: 100 }, (_, i) => i),
    );
    await a.close();
    await b.close();
  });

  it('dead-letters undecodable and oversized payloads with readable reasons, acks them once stored, and goes on', async () => {
    const topic = unique('bad');
    let release!: () => void;
    const stored = new Promise<void>((r) => (release = r));
    const ctx = createFakeContext({ deadLetter: () => stored });
    const s = source({ topics: [topic], qos: 1, maxPayloadBytes: 100 }, ctx);
    await connect(s);
    const wire = sent(s);
    await publish(topic, [
      '{"a": }',
      Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
      JSON.stringify('x'.repeat(200)),
      '{"ok":true}',
    ]);
    const { deliveries, messages } = await readMessages(s, 1);
    expect(messages.map((m) => m.payload)).toEqual([{ ok: true }]);
    ackAll(deliveries);
    await new Promise((r) => setTimeout(r, 100));
    // Dead letters not stored yet: no PUBACK at all, since acks go in order.
    expect(wire.filter((p) => p.cmd === 'puback')).toEqual([]);
    release();
    await waitFor(
      () => ctx.deadLetters.length === 3 && wire.filter((p) => p.cmd === 'puback').length === 4,
      'the dead letters and 4 PUBACKs',
    );
    const [json, utf8, size] = ctx.deadLetters;
    expect(json?.reason).toMatch(/^invalid JSON: .*(Unexpected token|Unexpected|JSON)/);
    expect(utf8?.reason).toBe('invalid UTF-8 in the payload (4 bytes)');
    expect(size?.reason).toBe('payload of 202 bytes exceeds maxPayloadBytes 100');
    expect(json?.message.payload).toEqual(Buffer.from('{"a": }'));
    expect(json?.message.meta['mqtt.topic']).toBe(topic);
    await s.close();
  });

  it('text payloads: invalid UTF-8 is dead-lettered; bytes payloads are kept as they are', async () => {
    const topic = unique('enc');
    const ctx = createFakeContext();
    const text = source({ topics: [topic], payload: 'text' }, ctx);
    const bytes = source({ topics: [topic], payload: 'bytes' });
    await connect(text);
    await connect(bytes);
    await publish(topic, [Buffer.from([0xc3, 0x28]), 'héllo']);
    const t = await readMessages(text, 1);
    const b = await readMessages(bytes, 2);
    ackAll([...t.deliveries, ...b.deliveries]);
    expect(t.messages.map((m) => m.payload)).toEqual(['héllo']);
    expect(ctx.deadLetters.map((d) => d.reason)).toEqual(['invalid UTF-8 in the payload (2 bytes)']);
    expect(b.messages.map((m) => Buffer.from(m.payload as Uint8Array))).toEqual([
      Buffer.from([0xc3, 0x28]),
      Buffer.from('héllo'),
    ]);
    await text.close();
    await bytes.close();
  });
});

describe('mqtt source and MQTT 5 Maximum Packet Size', () => {
  it('announces maxPayloadBytes (+ room for the topic): Mosquitto drops larger publishes instead of sending them', async () => {
    // A broker of its own, logging at notice level, where Mosquitto reports the drops.
    const own = await startMosquitto({ extraConfig: 'log_type notice' });
    try {
      const pub = await mqtt.connectAsync(own.url, { protocolVersion: 5, clientId: unique('pub-max') });
      const topic = unique('max');
      const clientId = unique('max-src');
      const ctx = createFakeContext();
      const parsed = mqttSourceConfig.parse({
        url: own.url,
        topics: [topic],
        qos: 1,
        protocolVersion: 5,
        clientId,
        maxPayloadBytes: 1000,
      });
      const s = mqttSource.create(parsed, ctx) as MqttSource;
      await connect(s);
      const limit = clientOf(s).options.properties?.maximumPacketSize;
      expect(limit).toBe(1000 + MAX_PACKET_HEADROOM);
      const largest: number[] = [];
      clientOf(s).on('packetreceive', (p) => {
        if (p.cmd === 'publish') largest.push(p.payload.length);
      });
      const answers = [];
      for (const payload of [
        JSON.stringify({ seq: 1 }),
        JSON.stringify({ seq: 2, pad: 'x'.repeat(2000) }), // over maxPayloadBytes, within the packet limit
        JSON.stringify({ seq: 3, pad: 'x'.repeat(10 * 1024 * 1024) }), // 10 MB: over the packet limit
        JSON.stringify({ seq: 4 }),
      ])
        answers.push(await pub.publishAsync(topic, payload, { qos: 1 }));
      const { deliveries, messages } = await readMessages(s, 2);
      ackAll(deliveries);
      expect(messages.map((m) => (m.payload as { seq: number }).seq)).toEqual([1, 4]);
      await waitFor(() => ctx.deadLetters.length === 1, 'the dead letter of seq 2');
      expect(ctx.deadLetters[0]!.reason).toMatch(/^payload of 20\d\d bytes exceeds maxPayloadBytes 1000$/);
      // The 10 MB message never reached us; the publisher got a plain PUBACK (no error reason code).
      expect(Math.max(...largest)).toBeLessThan(1000 + MAX_PACKET_HEADROOM);
      expect(answers.map((a) => (a as { reasonCode?: number } | undefined)?.reasonCode ?? 0)).toEqual([
        0, 0, 0, 0,
      ]);
      const logged = ctx.logs.find((l) => l.level === 'info' && /Maximum Packet Size/.test(l.msg ?? ''));
      expect(logged?.obj).toMatchObject({ maximumPacketSize: 1000 + MAX_PACKET_HEADROOM });
      await s.close();
      await pub.endAsync();
      await own.stop();
      // What Mosquitto 2.0 does: a notice in its log, nothing else (no $SYS counter, no redelivery).
      const log = readFileSync(join(own.dir, 'mosquitto.log'), 'utf8');
      expect(log).toMatch(
        new RegExp(`Dropping too large outgoing PUBLISH for ${clientId} \\(\\d{8} bytes\\)`),
      );
    } finally {
      await own.dispose();
    }
  });

  it('MQTT 3.1.1 has no such property: the oversized message arrives and is dead-lettered', async () => {
    const topic = unique('max311');
    const ctx = createFakeContext();
    const s = source({ topics: [topic], qos: 1, protocolVersion: 4, maxPayloadBytes: 1000 }, ctx);
    await connect(s);
    expect(clientOf(s).options.properties?.maximumPacketSize).toBeUndefined();
    await publish(topic, [JSON.stringify({ pad: 'x'.repeat(100_000) }), '{"ok":1}']);
    const { deliveries } = await readMessages(s, 1);
    ackAll(deliveries);
    await waitFor(() => ctx.deadLetters.length === 1, 'the dead letter');
    expect(ctx.deadLetters[0]!.reason).toMatch(/exceeds maxPayloadBytes 1000/);
    await s.close();
  });
});

describe('mqtt source against a broker with passwords and TLS', () => {
  let secured: SecureMosquitto;

  beforeAll(async () => {
    secured = await startSecureMosquitto({ bridge: 's3cret-pass' });
  });

  afterAll(async () => {
    await secured?.dispose();
  });

  async function roundTrip(config: Record<string, unknown>): Promise<unknown> {
    const topic = unique('secure');
    const s = source({ topics: [topic], ...config });
    await connect(s);
    const pub = await mqtt.connectAsync(secured.url, {
      protocolVersion: 5,
      username: 'bridge',
      password: 's3cret-pass',
    });
    await pub.publishAsync(topic, '{"secure":true}', { qos: 1 });
    await pub.endAsync();
    const { deliveries, messages } = await readMessages(s, 1);
    ackAll(deliveries);
    await s.close();
    return messages[0]?.payload;
  }

  it('connects with username and password', async () => {
    expect(await roundTrip({ url: secured.url, username: 'bridge', password: 's3cret-pass' })).toEqual({
      secure: true,
    });
  });

  it('fails connect() on a wrong password, without printing it', async () => {
    const ctx = createFakeContext();
    const s = source(
      { url: secured.url.replace('mqtt://', 'mqtt://bridge:wrong-pass@'), topics: ['x'] },
      ctx,
    );
    const error = await connect(s).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/Not authorized|Bad User Name or Password/i);
    expect(error?.message).not.toContain('wrong-pass');
    expect(error?.name).toBe('NotConnectedError');
  });

  it('connects over mqtts:// with a CA file', async () => {
    expect(
      await roundTrip({
        url: secured.tlsUrl,
        username: 'bridge',
        password: 's3cret-pass',
        tls: { ca: secured.ca },
      }),
    ).toEqual({ secure: true });
  });

  it('refuses a server certificate it can not verify', async () => {
    const s = source({
      url: secured.tlsUrl,
      username: 'bridge',
      password: 's3cret-pass',
      topics: ['x'],
    });
    await expect(connect(s)).rejects.toThrow(/self.signed|unable to verify|certificate/i);
  });
});

describe('mqtt source reconnection', () => {
  it('reconnects with backoff after a broker restart, logs without credentials, and gets unacked messages again', async () => {
    const own = await startMosquitto();
    try {
      const ctx = createFakeContext();
      const topic = unique('restart');
      const clientId = unique('restart-client');
      const url = own.url.replace('mqtt://', 'mqtt://user:hunter2-secret@');
      const s = source({ url, topics: [topic], qos: 1, cleanSession: false, clientId }, ctx);
      await connect(s);
      const pub = await mqtt.connectAsync(own.url, { protocolVersion: 5 });
      await pub.publishAsync(topic, '1', { qos: 1 });
      await pub.publishAsync(topic, '2', { qos: 1 });
      await pub.endAsync();
      const before = await readMessages(s, 2);
      expect(before.messages.map((m) => m.payload)).toEqual([1, 2]);

      // Counted, not timed: the delay mqtt.js waits after each failed attempt, read as the attempt
      // starts (the connection's own 'reconnect' listener sets it first). reconnectDelay 100ms
      // doubling up to 1s, half jittered: attempt n waits between c/2 and c, c = min(1000, 100 * 2^n).
      const client = clientOf(s);
      const periods: number[] = [];
      client.on('reconnect', () => periods.push(client.options.reconnectPeriod!));
      await own.stop();
      await ctx.waitForState('reconnecting');
      await waitFor(() => periods.length >= 5, 'five reconnection attempts');
      periods.slice(0, 5).forEach((period, i) => {
        const ceiling = Math.min(1000, 100 * 2 ** (i + 1));
        expect(period, `attempt ${i + 1}`).toBeGreaterThanOrEqual(ceiling / 2);
        expect(period, `attempt ${i + 1}`).toBeLessThanOrEqual(ceiling);
      });
      await own.restart();
      await ctx.waitForState('connected');

      // The acks of the first connection are void; the broker resends what was not acknowledged.
      before.deliveries.forEach((d) => d.ack());
      const again = await readMessages(s, 2);
      expect(again.messages.map((m) => [m.payload, m.meta['mqtt.dup']])).toEqual([
        [1, true],
        [2, true],
      ]);
      ackAll(again.deliveries);
      await waitFor(() => s.heldAcks === 0, 'the acks');

      const logged = JSON.stringify(ctx.logs);
      expect(logged).toContain('MQTT connection lost');
      expect(logged).toContain(own.url);
      expect(logged).not.toContain('hunter2');
      expect(JSON.stringify(ctx.states.map((x) => x.error?.message))).not.toContain('hunter2');
      await s.close();
    } finally {
      await own.dispose();
    }
  });
});

describe('mqtt source and a refused subscription', () => {
  it('fails connect() with a readable error (Aedes broker refusing the filter, MQTT 3.1.1)', async () => {
    const refusing = await startRefusingBroker('forbidden/');
    try {
      const s = source({
        url: refusing.url,
        protocolVersion: 4,
        topics: ['ok/x', 'forbidden/x'],
      });
      await expect(connect(s)).rejects.toThrow(
        /^the broker refused the subscription to ok\/x, forbidden\/x: Subscribe error: Unspecified error$/,
      );
      const ok = source({ url: refusing.url, protocolVersion: 4, topics: ['ok/x'] });
      await connect(ok);
      await ok.close();
    } finally {
      await refusing.close();
    }
  });
});
