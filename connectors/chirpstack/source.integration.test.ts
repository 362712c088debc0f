import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDelivery, type Delivery, type Message } from '../../src/sdk/index.js';
import { createFakeContext, waitFor, type FakeContext } from '../../test/conformance/context.js';
import { readMessages, sourceConformance } from '../../test/conformance/source.js';
import { startMosquitto, type ServiceHandle } from '../../test/harness/services.js';
import * as fx from './fixtures.js';
import { chirpstackSource } from './index.js';
import { ChirpstackSource } from './source.js';
import { chirpstackSourceConfig } from './spec.js';

/**
 * ChirpStack is reproduced by publishing its event JSON, as its MQTT integration does, to a real
 * Mosquitto. Each test uses its own topic prefix and client id.
 */

let broker: ServiceHandle;
let publisher: MqttClient;

beforeAll(async () => {
  broker = await startMosquitto();
  publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `cs-pub-${process.pid}` });
});

afterAll(async () => {
  await publisher?.endAsync();
  await broker?.dispose();
});

let n = 0;
const unique = (name: string): string => `${name}-${process.pid}-${++n}`;
const ackAll = (ds: Delivery[]): void => ds.forEach((d) => d.ack());

/** A source whose topic layout has a unique prefix, so tests do not see each other's events. */
function source(
  prefix: string,
  config: Record<string, unknown> = {},
  ctx: FakeContext = createFakeContext(),
) {
  const parsed = chirpstackSourceConfig.parse({
    url: broker.url,
    clientId: prefix,
    topic: `${prefix}/application/{applicationId}/device/{devEui}/event/{event}`,
    reconnectDelay: '100ms',
    reconnectMaxDelay: '1s',
    ...config,
  });
  return chirpstackSource.create(parsed, ctx) as ChirpstackSource;
}

const connect = (s: ChirpstackSource): Promise<void> => s.connect(AbortSignal.timeout(10_000));

async function publish(topic: string, body: unknown): Promise<void> {
  const payload = Buffer.isBuffer(body) ? body : typeof body === 'string' ? body : JSON.stringify(body);
  await publisher.publishAsync(topic, payload, { qos: 1 });
}

const v4Topic = (prefix: string, event = 'up', devEui = '0101010101010101') =>
  `${prefix}/application/${fx.APP_V4}/device/${devEui}/event/${event}`;

sourceConformance(
  'chirpstack (QoS 1, persistent session)',
  () => ({
    create: (ctx, identity) => source(identity, { receiveMaximum: 10, batchSize: 4 }, ctx),
    produce: async (identity, values) => {
      await Promise.all(
        values.map((value, i) => {
          const event = fx.v4Up({ deduplicationId: `${identity}-${value}`, fCnt: i });
          (event.deviceInfo as Record<string, unknown>).deviceName = value;
          return publish(v4Topic(identity), event);
        }),
      );
    },
    valueOf: (m: Message) => (m.payload as { deviceName: string }).deviceName,
    maxUnacked: 10,
  }),
  { redelivers: true },
);

describe('chirpstack source', () => {
  it('declares at-least-once with the defaults, and a single reader unless a share group is set', () => {
    const parse = (c: Record<string, unknown>) => chirpstackSourceConfig.parse({ url: 'mqtt://h', ...c });
    expect(chirpstackSource.delivery(parse({}))).toBe('at-least-once');
    expect(chirpstackSource.delivery(parse({ qos: 0 }))).toBe('best-effort');
    expect(chirpstackSource.singleReader?.(parse({}))).toBe(true);
    expect(chirpstackSource.singleReader?.(parse({ shareGroup: 'passerelle' }))).toBe(false);
  });

  it('reads v4 and both v3 marshalers, on both v3 topic shapes, into records', async () => {
    const prefix = unique('formats');
    const modern = source(prefix, { events: ['up', 'status', 'log'] });
    const legacyPrefix = unique('legacy');
    const legacy = source(legacyPrefix, {
      topic: `${legacyPrefix}/application/{applicationId}/device/{devEui}/{event}`,
      chirpstackVersion: 'v3',
    });
    await connect(modern);
    await connect(legacy);
    await publish(v4Topic(prefix), fx.v4Up());
    await publish(`${prefix}/application/123/device/0202020202020202/event/up`, fx.v3JsonV3Up());
    await publish(`${prefix}/application/123/device/0202020202020202/event/up`, fx.v3JsonUp({ fCnt: 11 }));
    await publish(v4Topic(prefix, 'status'), fx.v4Status());
    await publish(`${prefix}/application/123/device/0202020202020202/event/error`, fx.v3Error());
    await publish(v4Topic(prefix), fx.v4UpProtobuf({ deduplicationId: 'protobuf-1', fCnt: 43 }));
    await publish(`${legacyPrefix}/application/123/device/0202020202020202/rx`, fx.v3JsonV3Up({ fCnt: 12 }));

    const got = await readMessages(modern, 6);
    ackAll(got.deliveries);
    const records = got.messages.map((m) => m.payload as Record<string, unknown>);
    expect(records.map((r) => `${r.event}/${r.format}`).sort()).toEqual(
      ['up/v4', 'up/v4-protobuf', 'up/v3-json_v3', 'up/v3-json', 'status/v4', 'log/v3-json_v3'].sort(),
    );
    const v4 = got.messages.find(
      (m) => (m.payload as { format: string }).format === 'v4' && m.meta['chirpstack.event'] === 'up',
    )!;
    expect(v4.id).toBe('chirpstack:up:3ac7e3c4-4401-4b8d-9386-a5c902f9202d');
    expect(v4.time).toBe(Date.parse('2024-07-18T09:34:15.775Z'));
    expect(v4.meta).toMatchObject({
      'mqtt.topic': v4Topic(prefix),
      'chirpstack.devEui': '0101010101010101',
      'chirpstack.applicationId': fx.APP_V4,
      'chirpstack.fCnt': 42,
      'chirpstack.fPort': 1,
    });
    expect(v4.payload).toMatchObject({
      devEui: '0101010101010101',
      deviceName: 'gh-sensor-01',
      tenantName: 'ChirpStack',
      fCnt: 42,
      gateway: { id: '0016c001f153a14c', rssi: -87, snr: 7.5 },
      gatewayCount: 1,
      object: fx.LPP_OBJECT,
      data: '016700d902687f04880774f6005be2000dac',
    });
    const v3json = records.find((r) => r.format === 'v3-json')!;
    expect(v3json).toMatchObject({
      devEui: '0202020202020202',
      applicationId: '123',
      fCnt: 11,
      bandwidth: 125000,
    });

    const old = await readMessages(legacy, 1);
    ackAll(old.deliveries);
    expect(old.messages[0]?.payload).toMatchObject({ event: 'up', format: 'v3-json_v3', fCnt: 12 });
    await modern.close();
    await legacy.close();
  });

  it('dead-letters each bad event with the reason while the others flow, and acknowledges them all', async () => {
    const prefix = unique('bad');
    const ctx = createFakeContext();
    const config = {
      events: ['*'],
      chirpstackVersion: 'v4',
      decoder: 'cayenne-lpp',
      onDecodeError: 'dead-letter',
      maxPayloadBytes: 4096,
    };
    const s = source(prefix, config, ctx);
    await connect(s);
    const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
    const bad: [string, string, unknown][] = [
      [
        'invalid base64',
        v4Topic(prefix),
        fx.v4Up({ deduplicationId: 'b1', object: null, data: 'not*base64' }),
      ],
      [
        'truncated frame',
        v4Topic(prefix),
        fx.v4Up({ deduplicationId: 'b2', object: null, data: b64('016700') }),
      ],
      [
        'unknown LPP type',
        v4Topic(prefix),
        fx.v4Up({ deduplicationId: 'b3', object: null, data: b64('01fe00') }),
      ],
      [
        'missing fields',
        v4Topic(prefix),
        { deduplicationId: 'b4', time: '2024-07-18T09:34:15Z', deviceInfo: {} },
      ],
      [
        'v3 in a v4-only config',
        `${prefix}/application/123/device/0202020202020202/event/up`,
        fx.v3JsonV3Up(),
      ],
      ['unknown event type', v4Topic(prefix, 'bogus'), fx.v4Status()],
      ['invalid JSON', v4Topic(prefix), '{"deduplicationId": '],
      ['not Protobuf either', v4Topic(prefix), Buffer.from('0a2433616337653363342d', 'hex')],
      ['too large', v4Topic(prefix), 'x'.repeat(5000)],
    ];
    await publish(v4Topic(prefix), fx.v4Up({ deduplicationId: 'good-1', fCnt: 1 }));
    for (const [, topic, body] of bad) await publish(topic, body);
    await publish(v4Topic(prefix), fx.v4Up({ deduplicationId: 'good-2', fCnt: 2 }));

    const got = await readMessages(s, 2);
    expect(got.messages.map((m) => m.id)).toEqual(['chirpstack:up:good-1', 'chirpstack:up:good-2']);
    ackAll(got.deliveries);
    await waitFor(() => ctx.deadLetters.length === bad.length, 'every bad event dead-lettered');
    const reasons = ctx.deadLetters.map((d) => d.reason);
    expect(reasons).toHaveLength(bad.length);
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^chirpstack: data is not valid base64/),
        expect.stringMatching(/fPort 1: Cayenne LPP frame truncated: temperatureSensor on channel 1/),
        expect.stringMatching(/fPort 1: Cayenne LPP: unknown type 254/),
        expect.stringMatching(/deviceInfo.devEui is missing/),
        expect.stringMatching(/a ChirpStack v3 event \(v3-json_v3\) but chirpstackVersion is v4/),
        expect.stringMatching(/unknown event type "bogus"/),
        expect.stringMatching(/invalid JSON/),
        expect.stringMatching(/neither JSON nor a ChirpStack v4 Protobuf up event/),
        expect.stringMatching(/payload of 5000 bytes exceeds maxPayloadBytes 4096/),
      ]),
    );
    // The dead letters keep the raw payload.
    const broken = ctx.deadLetters.find((d) => d.reason.includes('invalid JSON'))!;
    expect(Buffer.from(broken.message.payload as Uint8Array).toString()).toBe('{"deduplicationId": ');
    await s.close();

    // Everything was acknowledged to the broker: the same session gets nothing back.
    const again = source(prefix, config);
    await connect(again);
    expect((await readMessages(again, 1, 700)).messages).toEqual([]);
    await again.close();
  });

  it('keeps an uplink whose frame the decoder refuses: object null, the reason, counted, no dead letter', async () => {
    const prefix = unique('undecodable');
    const ctx = createFakeContext();
    const s = source(prefix, { decoder: 'cayenne-lpp' }, ctx);
    await connect(s);
    const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
    await publish(v4Topic(prefix), fx.v4Up({ deduplicationId: 'u1', object: null, data: b64('016700') }));
    await publish(v4Topic(prefix), fx.v4Up({ deduplicationId: 'u2', fCnt: 43, object: null }));
    const got = await readMessages(s, 2);
    ackAll(got.deliveries);
    const [refused, decoded] = got.messages.map((m) => m.payload as Record<string, unknown>);
    expect(refused).toMatchObject({
      fCnt: 42,
      data: '016700',
      object: null,
      objectSource: null,
      objectError: expect.stringMatching(/^fPort 1: Cayenne LPP frame truncated/),
      gateway: { id: '0016c001f153a14c', rssi: -87, snr: 7.5 },
    });
    expect(decoded).toMatchObject({ object: fx.LPP_OBJECT, objectSource: 'cayenne-lpp', objectError: null });
    expect(ctx.deadLetters).toEqual([]);
    expect(await ctx.registry.metrics()).toMatch(
      /passerelle_chirpstack_decode_errors_total\{pipeline="test",component="test"\} 1/,
    );
    await s.close();
  });

  it('passes an uplink on once: duplicates from two gateways or integrations, and redelivery', async () => {
    const prefix = unique('dup');
    const ctx = createFakeContext();
    const s = source(prefix, {}, ctx);
    await connect(s);
    const v3Topic = `${prefix}/application/123/device/0202020202020202/event/up`;
    const gw2 = { gatewayID: '0404040404040404', rssi: -101, loRaSNR: -4, time: '2019-11-08T13:59:25.049Z' };
    // v4: the same event twice (two integrations); v3: the same frame heard by two gateways.
    await publish(v4Topic(prefix), fx.v4Up({ deduplicationId: 'dup-1', fCnt: 7 }));
    await publish(v4Topic(prefix), fx.v4Up({ deduplicationId: 'dup-1', fCnt: 7, rxInfo: [fx.GATEWAY_B] }));
    await publish(v3Topic, fx.v3JsonV3Up({ fCnt: 20 }));
    await publish(v3Topic, fx.v3JsonV3Up({ fCnt: 20, gateways: [gw2] }));
    await publish(v4Topic(prefix), fx.v4Up({ deduplicationId: 'dup-2', fCnt: 8 }));
    const got = await readMessages(s, 3);
    expect(got.messages.map((m) => m.id)).toEqual([
      'chirpstack:up:dup-1',
      'chirpstack:up:0202020202020202::20',
      'chirpstack:up:dup-2',
    ]);
    expect((await readMessages(s, 1, 300)).messages).toEqual([]);

    // Redelivery: the connection drops after the events were stored but before the broker got the
    // acknowledgement; the broker sends them again (dup) and they are left out.
    const pending = await (async () => {
      await publish(v4Topic(prefix), fx.v4Up({ deduplicationId: 'dup-3', fCnt: 9 }));
      return readMessages(s, 1);
    })();
    ackAll(got.deliveries);
    await waitFor(
      () => (s as unknown as { mqtt: { heldAcks: number } }).mqtt.heldAcks === 1,
      'acks but one sent',
    );
    await s.close();
    ackAll(pending.deliveries); // stored, but the connection is gone
    await connect(s);
    await publish(v4Topic(prefix), fx.v4Up({ deduplicationId: 'dup-4', fCnt: 10 }));
    const after = await readMessages(s, 1);
    expect(after.messages.map((m) => m.id)).toEqual(['chirpstack:up:dup-4']);
    ackAll(after.deliveries);
    const metrics = await ctx.registry.metrics();
    expect(metrics).toMatch(/passerelle_chirpstack_duplicates_total\{pipeline="test",component="test"\} 3/);
    await s.close();

    // The duplicates' acknowledgements reached the broker too: a new reader gets nothing old.
    const fresh = source(prefix);
    await connect(fresh);
    expect((await readMessages(fresh, 1, 700)).messages).toEqual([]);
    await fresh.close();
  });

  it('a delivery holds the source window for every MQTT message it acknowledges, duplicates included', async () => {
    const prefix = unique('held');
    const s = source(prefix);
    const event = (body: unknown, i: number): Message => ({
      id: `m${i}`,
      payload: Buffer.from(JSON.stringify(body)),
      meta: { 'mqtt.topic': v4Topic(prefix) },
      time: Date.now(),
    });
    const acks: (Error | undefined)[] = [];
    const inner = createDelivery(
      [
        fx.v4Up({ deduplicationId: 'held-1', fCnt: 1 }),
        fx.v4Up({ deduplicationId: 'held-1', fCnt: 1, rxInfo: [fx.GATEWAY_B] }),
        fx.v4Up({ deduplicationId: 'held-2', fCnt: 2 }),
      ].map(event),
      (error) => acks.push(error),
    );
    const map = (d: Delivery): Promise<Delivery | undefined> =>
      (s as unknown as { map(d: Delivery): Promise<Delivery | undefined> }).map(d);
    const records = await map(inner);
    // Two records, but the engine must count three: the duplicate's MQTT ack waits for this delivery.
    expect(records?.messages).toHaveLength(2);
    expect(records?.held).toBe(3);
    records!.ack();
    expect(acks).toEqual([undefined]);
  });

  it('flags frame counter gaps and resets, and exports per-device metrics', async () => {
    const prefix = unique('fcnt');
    const ctx = createFakeContext();
    const s = source(prefix, { deviceMetrics: true }, ctx);
    await connect(s);
    for (const [i, fCnt] of [10, 11, 14, 2].entries())
      await publish(v4Topic(prefix), fx.v4Up({ deduplicationId: `${prefix}-${i}`, fCnt }));
    const got = await readMessages(s, 4);
    ackAll(got.deliveries);
    expect(
      got.messages.map((m) => m.payload as { fCnt: number; fCntGap: number; fCntReset: boolean }),
    ).toMatchObject([
      { fCnt: 10, fCntGap: 0, fCntReset: false },
      { fCnt: 11, fCntGap: 0, fCntReset: false },
      { fCnt: 14, fCntGap: 2, fCntReset: false },
      { fCnt: 2, fCntGap: 0, fCntReset: true },
    ]);
    const metrics = await ctx.registry.metrics();
    const value = (name: string) =>
      Number(new RegExp(`${name}\\{devEui="0101010101010101"[^}]*\\} (\\S+)`).exec(metrics)?.[1]);
    expect(value('passerelle_chirpstack_device_uplinks')).toBe(4);
    expect(value('passerelle_chirpstack_device_lost_uplinks')).toBe(2);
    expect(value('passerelle_chirpstack_device_fcnt_resets')).toBe(1);
    expect(value('passerelle_chirpstack_device_rssi_dbm')).toBe(-87);
    expect(value('passerelle_chirpstack_device_snr_db')).toBe(7.5);
    expect(value('passerelle_chirpstack_device_last_seen_seconds')).toBe(
      Math.round(Date.parse('2024-07-18T09:34:15.775Z') / 1000),
    );
    await s.close();
  });

  it('leaves out event types no longer selected (an old subscription of the session), acknowledged', async () => {
    const prefix = unique('ignored');
    const all = source(prefix, { events: ['*'] });
    await connect(all);
    await all.close();
    // Same client id: the broker keeps the `event/+` subscription of the first configuration.
    const ctx = createFakeContext();
    const upOnly = source(prefix, { events: ['up'] }, ctx);
    await connect(upOnly);
    await publish(v4Topic(prefix, 'status'), fx.v4Status());
    await publish(v4Topic(prefix), fx.v4Up({ deduplicationId: `${prefix}-up` }));
    const got = await readMessages(upOnly, 1);
    ackAll(got.deliveries);
    expect(got.messages.map((m) => m.meta['chirpstack.event'])).toEqual(['up']);
    expect(await ctx.registry.metrics()).toMatch(/passerelle_chirpstack_ignored_total\{[^}]*\} 1/);
    expect(ctx.deadLetters).toEqual([]);
    await waitFor(
      () => (upOnly as unknown as { mqtt: { heldAcks: number } }).mqtt.heldAcks === 0,
      'the acks',
    );
    await upOnly.close();
  });

  it('does not acknowledge a bad event whose dead letter could not be stored: the broker sends it again', async () => {
    const prefix = unique('dlq-down');
    let failures = 1;
    const ctx = createFakeContext({
      deadLetter: async () => {
        if (failures-- > 0) throw new Error('dead-letter store unavailable');
      },
    });
    const s = source(prefix, {}, ctx);
    await connect(s);
    await publish(v4Topic(prefix), '{"broken": ');
    // Events are processed as the pipeline reads; this one yields no record.
    expect((await readMessages(s, 1, 700)).messages).toEqual([]);
    expect(ctx.logs.some((l) => l.msg?.includes('could not store a dead letter'))).toBe(true);
    expect(ctx.deadLetters).toEqual([]);
    await s.close();
    await connect(s);
    expect((await readMessages(s, 1, 700)).messages).toEqual([]);
    await waitFor(() => ctx.deadLetters.length === 1, 'the redelivered event dead-lettered');
    expect(ctx.deadLetters[0]?.message.meta['mqtt.dup']).toBe(true);
    await s.close();
  });

  it('a failed delivery leaves no trace: the redelivered events pass, with the same counters', async () => {
    const prefix = unique('undo');
    const ctx = createFakeContext();
    const s = source(prefix, {}, ctx);
    await connect(s);
    await publish(v4Topic(prefix), fx.v4Up({ deduplicationId: 'u-1', fCnt: 5 }));
    await publish(v4Topic(prefix), fx.v4Up({ deduplicationId: 'u-2', fCnt: 6 }));
    const first = await readMessages(s, 2);
    first.deliveries.forEach((d) => d.ack(new Error('outbox down')));
    await s.close();
    await connect(s);
    const again = await readMessages(s, 2);
    ackAll(again.deliveries);
    expect(again.messages.map((m) => [m.id, (m.payload as { fCntReset: boolean }).fCntReset])).toEqual([
      ['chirpstack:up:u-1', false],
      ['chirpstack:up:u-2', false],
    ]);
    expect(again.messages.every((m) => m.meta['mqtt.dup'] === true)).toBe(true);
    await s.close();
  });
});
