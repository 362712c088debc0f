import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Duplex } from 'node:stream';
import { MqttClient, type IPublishPacket } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { PINNED_MQTT_VERSION, PubackGate } from './puback-gate.js';
import { Qos2Intake } from './source.js';

/**
 * The deferred acks rely on mqtt.js internals (see puback-gate.ts). These tests fail when an
 * upgrade changes them: the version, the code paths that send PUBACK / PUBREC, and the behaviour
 * on the wire, driven byte by byte through an in-memory stream (no broker).
 */
const require = createRequire(import.meta.url);

describe('mqtt.js internals the PUBACK gate relies on', () => {
  it('is the pinned mqtt.js version', () => {
    expect((require('mqtt/package.json') as { version: string }).version).toBe(PINNED_MQTT_VERSION);
  });

  it('sends PUBACK and PUBREC through _sendPacket, QoS 2 through incomingStore.put, PUBCOMP after handleMessage', () => {
    expect(typeof (MqttClient.prototype as unknown as Record<string, unknown>)._sendPacket).toBe('function');
    const publish = readFileSync(require.resolve('mqtt/lib/handlers/publish'), 'utf8');
    expect(publish).toContain("client['_sendPacket']({ cmd: 'puback', messageId, reasonCode: code }, done)");
    expect(publish).toContain('client.incomingStore.put(packet, () => {');
    expect(publish).toContain("client['_sendPacket']({ cmd: 'pubrec', messageId }, done)");
    const pubrel = readFileSync(require.resolve('mqtt/lib/handlers/pubrel'), 'utf8');
    expect(pubrel).toMatch(
      /client\.handleMessage\(pub, \(err2\) => \{[\s\S]*client\['_sendPacket'\]\(comp, callback\)/,
    );
  });
});

// --- a minimal MQTT 5 wire, enough for CONNACK, PUBLISH and PUBREL ---

function packet(type: number, body: number[]): Buffer {
  const len: number[] = [];
  let n = body.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    len.push(byte);
  } while (n > 0);
  return Buffer.from([type, ...len, ...body]);
}
const u16 = (n: number): number[] => [n >> 8, n & 0xff];
const connack = (): Buffer => packet(0x20, [0x00, 0x00, 0x00]);
const publish = (id: number, qos: 1 | 2, payload: string): Buffer =>
  packet(0x30 | (qos << 1), [...u16(1), 't'.charCodeAt(0), ...u16(id), 0x00, ...Buffer.from(payload)]);
const pubrel = (id: number): Buffer => packet(0x62, [...u16(id)]);

/** The packets a client wrote, as [type name, packet id]. */
function parse(data: Buffer): [string, number][] {
  const names: Record<number, string> = {
    1: 'connect',
    3: 'publish',
    4: 'puback',
    5: 'pubrec',
    6: 'pubrel',
    7: 'pubcomp',
    8: 'subscribe',
    12: 'pingreq',
    14: 'disconnect',
  };
  const out: [string, number][] = [];
  let i = 0;
  while (i < data.length) {
    const type = data[i]! >> 4;
    let len = 0;
    let mul = 1;
    let j = i + 1;
    for (;;) {
      const b = data[j++]!;
      len += (b & 0x7f) * mul;
      mul *= 128;
      if (!(b & 0x80)) break;
    }
    const id = [4, 5, 7].includes(type) ? (data[j]! << 8) | data[j + 1]! : 0;
    out.push([names[type] ?? String(type), id]);
    i = j + len;
  }
  return out;
}

function fakeClient() {
  const written: Buffer[] = [];
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk);
      cb();
    },
  });
  const received: IPublishPacket[] = [];
  const settles = new Map<number, (error?: Error) => void>();
  const gateRef: { gate?: PubackGate } = {};
  const hold = (p: IPublishPacket, done: () => void): void => {
    received.push(p);
    const held = gateRef.gate!.hold(p.messageId!);
    settles.set(p.messageId!, (error) => held.settle(error));
    done();
  };
  const client = new MqttClient(() => stream as never, {
    protocolVersion: 5,
    manualConnect: true,
    reconnectPeriod: 0,
    keepalive: 0,
    clientId: 'gate-test',
    incomingStore: new Qos2Intake(hold),
  });
  const gate = new PubackGate(client);
  gateRef.gate = gate;
  client.handleMessage = (p, cb) => (p.qos === 2 ? cb() : hold(p, cb));
  client.connect();
  const feed = async (...buffers: Buffer[]): Promise<void> => {
    for (const b of buffers) stream.push(b);
    await new Promise((r) => setTimeout(r, 20));
  };
  const wire = (): [string, number][] => parse(Buffer.concat(written)).filter(([name]) => name !== 'connect');
  return { client, gate, feed, wire, received, settles };
}

describe('PubackGate on an mqtt.js 5.16 client', () => {
  it('holds PUBACKs without stalling intake and sends them in PUBLISH order', async () => {
    const { client, feed, wire, received, settles } = fakeClient();
    await feed(connack());
    expect(client.connected).toBe(true);
    await feed(publish(1, 1, 'a'), publish(2, 1, 'b'), publish(3, 1, 'c'));
    // All three were handled although none is acknowledged: intake is not serialised.
    expect(received.map((p) => p.messageId)).toEqual([1, 2, 3]);
    expect(wire()).toEqual([]);
    settles.get(3)!();
    settles.get(2)!();
    await feed();
    expect(wire()).toEqual([]); // 1 is not stored yet, and acks go in order
    settles.get(1)!();
    await feed();
    expect(wire()).toEqual([
      ['puback', 1],
      ['puback', 2],
      ['puback', 3],
    ]);
    client.end(true);
  });

  it('never sends the ack of a message that could not be stored, and drops held acks when the connection closes', async () => {
    const { client, gate, feed, wire, settles } = fakeClient();
    await feed(connack(), publish(1, 1, 'a'), publish(2, 1, 'b'), publish(3, 1, 'c'));
    settles.get(1)!(new Error('not stored'));
    settles.get(2)!();
    await feed();
    expect(wire()).toEqual([['puback', 2]]);
    gate.reset();
    settles.get(3)!();
    await feed();
    expect(wire()).toEqual([['puback', 2]]);
    client.end(true);
  });

  it('QoS 2: holds the PUBREC until stored, then answers PUBREL with PUBCOMP', async () => {
    const { client, feed, wire, received, settles } = fakeClient();
    await feed(connack(), publish(7, 2, 'x'));
    expect(received.map((p) => p.payload.toString())).toEqual(['x']);
    expect(wire()).toEqual([]);
    settles.get(7)!();
    await feed();
    expect(wire()).toEqual([['pubrec', 7]]);
    await feed(pubrel(7));
    expect(wire()).toEqual([
      ['pubrec', 7],
      ['pubcomp', 7],
    ]);
    // The PUBREL stage does not hand the message over a second time.
    expect(received).toHaveLength(1);
    client.end(true);
  });
});
