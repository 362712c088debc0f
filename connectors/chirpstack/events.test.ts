import { describe, expect, it } from 'vitest';
import { noopMetrics } from '../../src/sdk/index.js';
import { EventError, detectFormat, parseEvent } from './events.js';
import * as fx from './fixtures.js';
import { buildRecord, dedupKey } from './record.js';
import { chirpstackSourceConfig, matchEventTopic, subscriptionFilters } from './spec.js';
import { Deduplicator, DeviceTracker, metricDevices } from './tracker.js';
import { isJsonPayload, parseBody } from './source.js';
import { decodeProtobufEvent } from './protobuf.js';

const config = (extra: Record<string, unknown> = {}) =>
  chirpstackSourceConfig.parse({ url: 'mqtt://localhost:1883', ...extra });
const up = { event: 'up', devEui: '0101010101010101', applicationId: fx.APP_V4 };
const noCounters = { fCntGap: 0, fCntReset: false };

describe('parseEvent + buildRecord', () => {
  it('writes the record fields in the documented order (README "Record format")', () => {
    const { payload } = buildRecord(parseEvent(fx.v4Up(), up, 0), config(), noCounters);
    expect(Object.keys(payload)).toEqual([
      ...['event', 'format', 'time', 'deduplicationId', 'devEui', 'deviceName', 'applicationId'],
      ...['applicationName', 'tenantId', 'tenantName', 'deviceProfileId', 'deviceProfileName', 'tags'],
      ...['devAddr', 'fPort', 'fCnt', 'confirmed', 'adr', 'dr', 'frequency', 'spreadingFactor'],
      ...['bandwidth', 'gateway', 'gatewayCount', 'data', 'object', 'objectSource', 'objectError'],
      ...['fCntGap', 'fCntReset'],
    ]);
  });

  it('normalises a v4 up event field by field', () => {
    const e = parseEvent(fx.v4Up(), up, 0);
    const { payload, meta, time } = buildRecord(e, config(), noCounters);
    expect(payload).toEqual({
      event: 'up',
      format: 'v4',
      time: '2024-07-18T09:34:15.775Z',
      deduplicationId: '3ac7e3c4-4401-4b8d-9386-a5c902f9202d',
      devEui: '0101010101010101',
      deviceName: 'gh-sensor-01',
      applicationId: fx.APP_V4,
      applicationName: 'Greenhouse',
      tenantId: '52f14cd4-c6f1-4fbd-8f87-4025e1d49242',
      tenantName: 'ChirpStack',
      deviceProfileId: '14855bf7-d10d-4aee-b618-ebfcb64dc7ad',
      deviceProfileName: 'Cayenne LPP sensors',
      tags: { site: 'north', building: 'B2' },
      devAddr: '00189440',
      fPort: 1,
      fCnt: 42,
      confirmed: false,
      adr: true,
      dr: 5,
      frequency: 867100000,
      spreadingFactor: 7,
      bandwidth: 125000,
      gateway: {
        id: '0016c001f153a14c',
        rssi: -87,
        snr: 7.5,
        location: { latitude: 48.87, longitude: 2.35, altitude: 41 },
      },
      gatewayCount: 1,
      data: '016700d902687f04880774f6005be2000dac',
      object: fx.LPP_OBJECT,
      objectSource: 'chirpstack',
      objectError: null,
      fCntGap: 0,
      fCntReset: false,
    });
    expect(time).toBe(Date.parse('2024-07-18T09:34:15.775Z'));
    expect(meta).toEqual({
      'chirpstack.event': 'up',
      'chirpstack.format': 'v4',
      'chirpstack.devEui': '0101010101010101',
      'chirpstack.applicationId': fx.APP_V4,
      'chirpstack.deviceName': 'gh-sensor-01',
      'chirpstack.deduplicationId': '3ac7e3c4-4401-4b8d-9386-a5c902f9202d',
      'chirpstack.fPort': 1,
      'chirpstack.fCnt': 42,
    });
  });

  it('picks the best gateway by SNR and treats omitted nested numbers as 0', () => {
    const e = parseEvent(
      fx.v4Up({ rxInfo: [fx.GATEWAY_B, fx.GATEWAY_A, { gatewayId: 'aa00000000000001' }] }),
      up,
      0,
    );
    const { payload } = buildRecord(e, config(), noCounters);
    expect(payload.gatewayCount).toBe(3);
    expect((payload.gateway as { id: string }).id).toBe('0016c001f153a14c');
    const sparse = parseEvent(fx.v4Up({ rxInfo: [{ gatewayId: 'aa00000000000001' }] }), up, 0);
    expect(buildRecord(sparse, config(), noCounters).payload.gateway).toEqual({
      id: 'aa00000000000001',
      rssi: 0,
      snr: 0,
      location: null,
    });
  });

  it('decodes with Cayenne LPP when ChirpStack sent no object, and per fPort with a byte layout', () => {
    const e = parseEvent(fx.v4Up({ object: null }), up, 0);
    expect(buildRecord(e, config(), noCounters).payload).toMatchObject({ object: null, objectSource: null });
    expect(buildRecord(e, config({ decoder: 'cayenne-lpp' }), noCounters).payload).toMatchObject({
      object: fx.LPP_OBJECT,
      objectSource: 'cayenne-lpp',
    });
    const layout = { type: 'byte-layout', layout: [{ name: 'channel', offset: 0, type: 'uint8' }] };
    const perPort = config({ decoder: 'cayenne-lpp', decoders: { '1': layout } });
    expect(buildRecord(e, perPort, noCounters).payload).toMatchObject({
      object: { channel: 1 },
      objectSource: 'byte-layout',
    });
    // ChirpStack's object wins unless told otherwise.
    const withObject = parseEvent(fx.v4Up(), up, 0);
    expect(buildRecord(withObject, perPort, noCounters).payload.objectSource).toBe('chirpstack');
    expect(
      buildRecord(withObject, { ...perPort, useChirpstackObject: false }, noCounters).payload.objectSource,
    ).toBe('byte-layout');
    expect(buildRecord(e, config({ dataEncoding: 'base64' }), noCounters).payload.data).toBe(
      fx.LPP_FRAME_BASE64,
    );
  });

  it('a frame the decoder refuses: kept with object null and the reason (default), or an EventError with onDecodeError dead-letter', () => {
    const e = parseEvent(
      fx.v4Up({ object: null, data: Buffer.from('0167ff', 'hex').toString('base64') }),
      up,
      0,
    );
    expect(buildRecord(e, config({ decoder: 'cayenne-lpp' }), noCounters).payload).toMatchObject({
      object: null,
      objectSource: null,
      objectError: expect.stringMatching(/^fPort 1: Cayenne LPP frame truncated/),
      data: '0167ff',
      gateway: { id: '0016c001f153a14c', rssi: -87, snr: 7.5 },
    });
    expect(() =>
      buildRecord(e, config({ decoder: 'cayenne-lpp', onDecodeError: 'dead-letter' }), noCounters),
    ).toThrow(/fPort 1: Cayenne LPP frame truncated/);
  });

  it('normalises a v3 json_v3 up event', () => {
    const e = parseEvent(
      fx.v3JsonV3Up(),
      { event: 'up', devEui: '0202020202020202' },
      Date.parse('2020-01-01T00:00:00Z'),
    );
    expect(buildRecord(e, config(), noCounters).payload).toEqual({
      event: 'up',
      format: 'v3-json_v3',
      time: '2019-11-08T13:59:25.048Z',
      deduplicationId: null,
      devEui: '0202020202020202',
      deviceName: 'garden-sensor',
      applicationId: '123',
      applicationName: 'temperature-sensor',
      tenantId: null,
      tenantName: null,
      deviceProfileId: 'f4f4cdb5-4d67-4b2b-8e71-0a6a8a3c5d21',
      deviceProfileName: 'cayenne-lpp',
      tags: { key: 'value' },
      devAddr: null,
      fPort: 5,
      fCnt: 10,
      confirmed: false,
      adr: false,
      dr: 5,
      frequency: 868100000,
      spreadingFactor: null,
      bandwidth: null,
      gateway: {
        id: '0303030303030303',
        rssi: -48,
        snr: 9,
        location: { latitude: 52.3740364, longitude: 4.9144401, altitude: 10.5 },
      },
      gatewayCount: 1,
      data: '016700fa026840',
      object: { temperatureSensor: { '1': 25 }, humiditySensor: { '2': 32 } },
      objectSource: 'chirpstack',
      objectError: null,
      fCntGap: 0,
      fCntReset: false,
    });
  });

  it('normalises a v3 json (protobuf JSON mapping) up event: base64 EUIs, objectJSON, kHz bandwidth', () => {
    const e = parseEvent(fx.v3JsonUp(), { event: 'up' }, 0);
    expect(buildRecord(e, config(), noCounters).payload).toMatchObject({
      format: 'v3-json',
      devEui: '0202020202020202',
      devAddr: '00513942',
      dr: 1,
      adr: true,
      spreadingFactor: 11,
      bandwidth: 125000,
      gateway: { id: '0303030303030303', rssi: -48, snr: 9 },
      object: { temperatureSensor: { '1': 25 }, humiditySensor: { '2': 32 } },
      data: '016700fa026840',
    });
  });

  it.each([
    ['join', fx.v4Join, { devAddr: '00189440' }],
    [
      'status',
      fx.v4Status,
      { margin: 7, batteryLevel: 87.5, externalPowerSource: false, batteryLevelUnavailable: false },
    ],
    [
      'ack',
      fx.v4Ack,
      { acknowledged: true, fCntDown: 7, queueItemId: '8a2f6d2e-1b5c-4a0e-9c4d-2f3b1a6e7d90' },
    ],
    ['txack', fx.v4Txack, { downlinkId: 3279568214, fCntDown: 7, gatewayId: '0016c001f153a14c' }],
    [
      'log',
      fx.v4Log,
      { level: 'ERROR', code: 'UPLINK_CODEC', description: 'Error: temperature out of range' },
    ],
    [
      'location',
      fx.v4Location,
      {
        location: {
          latitude: 48.8694,
          longitude: 2.3522,
          altitude: 35,
          source: 'GEO_RESOLVER_TDOA',
          accuracy: 20,
        },
      },
    ],
  ] as const)('normalises a v4 %s event', (event, make, fields) => {
    const e = parseEvent(make(), { event }, 0);
    const { payload } = buildRecord(e, config(), noCounters);
    expect(payload).toMatchObject({
      event,
      format: 'v4',
      devEui: '0101010101010101',
      deviceName: 'gh-sensor-01',
      ...fields,
    });
    expect(payload).not.toHaveProperty('fCnt');
  });

  it('reads v3 status and error events (error becomes log)', () => {
    expect(
      buildRecord(parseEvent(fx.v3Status(), { event: 'status' }, 0), config(), noCounters).payload,
    ).toMatchObject({
      event: 'status',
      format: 'v3-json_v3',
      batteryLevel: 75.5,
      margin: 6,
    });
    expect(
      buildRecord(parseEvent(fx.v3Error(), { event: 'error' }, 0), config(), noCounters).payload,
    ).toMatchObject({
      event: 'log',
      level: 'ERROR',
      code: 'UPLINK_CODEC',
      description: 'invalid payload',
    });
  });

  it.each([
    ['invalid base64 data', fx.v4Up({ data: 'AWcA2Q$$' }), up, /data is not valid base64/],
    [
      'missing deviceInfo.devEui',
      { ...fx.v4Up(), deviceInfo: { deviceName: 'x' } },
      up,
      /deviceInfo.devEui is missing/,
    ],
    [
      'a v4-looking event without deviceInfo',
      { deduplicationId: 'x', devEui: '01' },
      up,
      /deviceInfo is missing/,
    ],
    ['fCnt of the wrong type', { ...fx.v4Up(), fCnt: 'forty' }, up, /fCnt must be a number, got "forty"/],
    ['rxInfo not a list', { ...fx.v4Up(), rxInfo: {} }, up, /rxInfo must be a list/],
    ['an unknown event type', fx.v4Up(), { event: 'bogus' }, /unknown event type "bogus"/],
    ['a bad v3 devEUI', { ...fx.v3JsonV3Up(), devEUI: 'xyz' }, { event: 'up' }, /neither 16 hex characters/],
    [
      'broken objectJSON',
      { ...fx.v3JsonUp(), objectJSON: '{"a":' },
      { event: 'up' },
      /objectJSON is not valid JSON/,
    ],
    ['not an event', { hello: 'world' }, { event: 'up' }, /neither deviceInfo \(v4\) nor devEUI \(v3\)/],
    ['a JSON array', [1, 2], { event: 'up' }, /an event is a JSON object, got a list/],
    [
      'a device other than the topic',
      fx.v4Up(),
      { event: 'up', devEui: '0202020202020202' },
      /topic names device/,
    ],
    ['a bad time', { ...fx.v4Up(), time: 'yesterday' }, up, /time is not a valid time/],
  ])('%s is an EventError', (_name, body, topic, message) => {
    expect(() => parseEvent(body, topic as { event: string }, 0)).toThrow(EventError);
    expect(() => parseEvent(body, topic as { event: string }, 0)).toThrow(message);
  });

  it('detects the format from the fields', () => {
    expect(detectFormat(fx.v4Up())).toBe('v4');
    expect(detectFormat(fx.v3JsonV3Up())).toBe('v3-json_v3');
    expect(detectFormat(fx.v3JsonUp())).toBe('v3-json');
  });
});

describe('payloads', () => {
  it('tells JSON from Protobuf, and parses JSON', () => {
    expect(isJsonPayload(Buffer.from(' \n{"a":1}'))).toBe(true);
    // An UplinkEvent in binary Protobuf starts with field 1 (deduplication_id), tag 0x0a.
    expect(isJsonPayload(fx.v4UpProtobuf())).toBe(false);
    expect(parseBody(Buffer.from(' {"a":1}'))).toEqual({ a: 1 });
    expect(() => parseBody(Buffer.from('{"a":'))).toThrow(/invalid JSON/);
    expect(() => parseBody(Buffer.from([0x7b, 0xff, 0x7d]))).toThrow(/invalid UTF-8/);
    expect(() => parseBody(Buffer.alloc(0))).toThrow(/empty payload/);
  });
});

describe('v4 Protobuf', () => {
  it('gives the same record as the JSON encoding, but for the format', () => {
    const fromJson = buildRecord(parseEvent(fx.v4Up(), up, 0), config(), noCounters).payload;
    const body = decodeProtobufEvent('up', fx.v4UpProtobuf());
    const fromProtobuf = buildRecord(parseEvent(body, up, 0, true), config(), noCounters).payload;
    expect(fromProtobuf).toEqual({ ...fromJson, format: 'v4-protobuf' });
  });

  it('decodes log events with their enum names', () => {
    const body = decodeProtobufEvent('log', fx.v4LogProtobuf());
    const record = buildRecord(parseEvent(body, { event: 'log' }, 0, true), config(), noCounters).payload;
    const json = buildRecord(parseEvent(fx.v4Log(), { event: 'log' }, 0), config(), noCounters).payload;
    expect(record).toEqual({ ...json, format: 'v4-protobuf' });
  });

  it('refuses bytes that are not an event', () => {
    expect(() => decodeProtobufEvent('up', Buffer.from('0a2433616337', 'hex'))).toThrow(
      /neither JSON nor a ChirpStack v4 Protobuf up event/,
    );
    expect(() => decodeProtobufEvent('integration', Buffer.from('0a00', 'hex'))).toThrow(/set json = true/);
  });
});

describe('topics', () => {
  it('builds subscriptions for the default v4 layout', () => {
    expect(subscriptionFilters(config())).toEqual(['application/+/device/+/event/up']);
    expect(subscriptionFilters(config({ events: ['up', 'log'], shareGroup: 'ps' }))).toEqual([
      '$share/ps/application/+/device/+/event/up',
      '$share/ps/application/+/device/+/event/log',
      '$share/ps/application/+/device/+/event/error',
    ]);
    expect(
      subscriptionFilters(
        config({ applications: ['a1'], devices: ['0101010101010101', 'AABBCCDDEEFF0011'], events: ['*'] }),
      ),
    ).toEqual([
      'application/a1/device/0101010101010101/event/+',
      'application/a1/device/aabbccddeeff0011/event/+',
    ]);
  });

  it('subscribes to rx for up with the v3 layout before 3.11', () => {
    const c = config({ topic: 'application/{applicationId}/device/{devEui}/{event}' });
    expect(subscriptionFilters(c)).toEqual(['application/+/device/+/up', 'application/+/device/+/rx']);
    expect(matchEventTopic(c.topic, 'application/12/device/0202020202020202/rx')).toEqual({
      event: 'rx',
      applicationId: '12',
      devEui: '0202020202020202',
    });
    expect(matchEventTopic(c.topic, 'application/12/device/x/event/up')).toBeUndefined();
  });

  it.each([
    [{ topic: 'application/+/device/{devEui}/event/{event}' }, /no \+ or #/],
    [{ topic: 'application/{applicationId}/device/{devEui}' }, /must contain \{event\}/],
    [{ topic: 'app-{applicationId}/{event}' }, /must be a whole topic level/],
    [{ devices: ['0101'] }, /16 hexadecimal/],
    [{ topic: 'a/{event}', applications: ['x'] }, /needs \{applicationId\}/],
    [{ events: ['uplink'] }, /events/],
    [{ decoder: 'lpp' }, /decoder/],
    [{ decoders: { '0': 'cayenne-lpp' } }, /fPort is 1..223/],
    [{ url: 'http://x' }, /broker URL/],
    [{ url: 'mqtt://x', tls: {} }, /TLS is chosen by the URL scheme/],
    [{ urll: 'mqtt://x' }, /urll/],
  ])('refuses %j', (extra, message) => {
    const r = chirpstackSourceConfig.safeParse({ url: 'mqtt://localhost', ...extra });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n')).toMatch(message);
  });

  it('the smallest config is type + url', () => {
    const c = config();
    expect(c).toMatchObject({
      qos: 1,
      cleanSession: false,
      events: ['up'],
      chirpstackVersion: 'auto',
      dedupWindow: 600_000,
    });
  });
});

describe('Deduplicator', () => {
  it('admits a key once within the window, again after it, and forgets on undo', () => {
    const d = new Deduplicator(1000);
    const undo = d.admit('a', 0);
    expect(undo).toBeDefined();
    expect(d.admit('a', 500)).toBeUndefined();
    expect(d.admit('a', 1500)).toBeDefined();
    const undoB = d.admit('b', 1600)!;
    undoB();
    expect(d.admit('b', 1700)).toBeDefined();
  });

  it('holds at most maxEntries keys', () => {
    const d = new Deduplicator(60_000, 100);
    for (let i = 0; i < 1000; i++) d.admit(`k${i}`, i);
    expect(d.size).toBeLessThanOrEqual(100);
  });

  it('keys: deduplicationId per event type, else device and fCnt', () => {
    expect(dedupKey(parseEvent(fx.v4Up(), up, 0))).toBe('up:3ac7e3c4-4401-4b8d-9386-a5c902f9202d');
    expect(dedupKey(parseEvent(fx.v3JsonUp(), { event: 'up' }, 0))).toBe('up:0202020202020202:00513942:10');
    expect(dedupKey(parseEvent(fx.v4Log(), { event: 'log' }, 0))).toBe(
      'log:0101010101010101:2024-07-18T09:40:02.113Z:UPLINK_CODEC',
    );
    expect(dedupKey(parseEvent(fx.v3Status(), { event: 'status' }, 0))).toBeUndefined();
  });
});

describe('DeviceTracker', () => {
  it('counts gaps and resets per device, and undoes', () => {
    const t = new DeviceTracker(10, noopMetrics);
    const gw = { id: 'g', rssi: -80, snr: 5, location: null };
    expect(t.uplink('a', 10, 1, gw)).toMatchObject({ fCntGap: 0, fCntReset: false });
    expect(t.uplink('a', 11, 2, gw)).toMatchObject({ fCntGap: 0, fCntReset: false });
    expect(t.uplink('a', 15, 3, gw)).toMatchObject({ fCntGap: 3, fCntReset: false });
    expect(t.uplink('b', 100, 3, gw)).toMatchObject({ fCntGap: 0 });
    const reset = t.uplink('a', 0, 4, gw);
    expect(reset).toMatchObject({ fCntGap: 0, fCntReset: true });
    expect(t.state('a')).toMatchObject({ fCnt: 0, uplinks: 4, lost: 3, resets: 1 });
    reset.undo();
    expect(t.state('a')).toMatchObject({ fCnt: 15, uplinks: 3, lost: 3, resets: 0 });
  });

  it('tracks at most maxDevices and exports per-device gauges', async () => {
    const { createFakeContext } = await import('../../test/conformance/context.js');
    const ctx = createFakeContext();
    const t = new DeviceTracker(2, ctx.metrics, 2);
    t.uplink('a', 1, 1000, { id: 'g', rssi: -80, snr: 5, location: null });
    t.uplink('b', 1, 2000, null);
    t.uplink('c', 1, 3000, null);
    expect(t.size).toBe(2);
    expect(t.state('a')).toBeUndefined();
    const text = await ctx.registry.metrics();
    expect(text).not.toMatch(/devEui="a"/);
    expect(text).toMatch(
      /passerelle_chirpstack_device_uplinks\{devEui="c",pipeline="test",component="test"\} 1/,
    );
    expect(text).toMatch(/passerelle_chirpstack_device_last_seen_seconds\{devEui="c",[^}]*\} 3/);
  });

  it('exports per-device series only when asked (deviceMetrics), for at most the cap', async () => {
    const { createFakeContext } = await import('../../test/conformance/context.js');
    const off = createFakeContext();
    new DeviceTracker(10, off.metrics).uplink('a', 1, 1000, null);
    expect(await off.registry.metrics()).not.toMatch(/devEui=/);
    const capped = createFakeContext();
    const t = new DeviceTracker(10, capped.metrics, metricDevices(2));
    for (const d of ['a', 'b', 'c']) t.uplink(d, 1, 1000, null);
    const text = await capped.registry.metrics();
    expect(text).toMatch(/passerelle_chirpstack_device_uplinks\{devEui="b"/);
    expect(text).not.toMatch(/devEui="c"/);
    expect(t.state('c')).toMatchObject({ uplinks: 1 });
    expect([metricDevices(false), metricDevices(true), metricDevices(50)]).toEqual([0, 1000, 50]);
  });
});

describe('record time', () => {
  it("is the event's own time, or the reception time to the microsecond when the event has none", () => {
    const received = 1_700_000_000_123.456;
    const own = buildRecord(parseEvent(fx.v4Up(), up, received), config(), noCounters);
    expect(own.time).toBe(Date.parse(own.payload.time as string));
    const timeless = fx.v4Up();
    delete timeless.time;
    const none = buildRecord(parseEvent(timeless, up, received), config(), noCounters);
    expect(none.payload.time).toBe('2023-11-14T22:13:20.123456Z');
    expect(none.time).toBe(received);
    const v3 = fx.v3JsonUp();
    v3.rxInfo = [];
    expect(buildRecord(parseEvent(v3, { event: 'up' }, 999.9995), config(), noCounters).time).toBe(1000);
  });
});

// Every event type in every format, field by field: v3 and v4 share one parser whose differences
// are data (issue 21), and this pins what each format gives.
describe('one parser for v3 and v4: every event type, every format', () => {
  const v3base = { ...fx.v3Status(), margin: undefined, batteryLevel: undefined };
  /** The v3 `json` marshaler (protobuf JSON mapping): EUIs and devAddr in base64. */
  const asV3Json = (body: Record<string, unknown>) => ({
    ...body,
    devEUI: Buffer.from(String(body.devEUI), 'hex').toString('base64'),
    ...(body.gatewayID ? { gatewayID: Buffer.from(String(body.gatewayID), 'hex').toString('base64') } : {}),
    ...(body.devAddr ? { devAddr: Buffer.from(String(body.devAddr), 'hex').toString('base64') } : {}),
  });
  const v3: [string, Record<string, unknown>][] = [
    ['join', { ...v3base, devAddr: '00513942' }],
    ['status', fx.v3Status()],
    ['ack', { ...v3base, acknowledged: true, fCnt: 7 }],
    ['txack', { ...v3base, gatewayID: '0303030303030303', fCnt: 8 }],
    ['error', fx.v3Error()],
    ['error', { ...fx.v3Error(), fCnt: undefined }],
    [
      'location',
      {
        ...v3base,
        location: {
          latitude: 48.1,
          longitude: 11.5,
          altitude: 520,
          source: 'GEO_RESOLVER_TDOA',
          accuracy: 20,
        },
      },
    ],
    [
      'integration',
      { ...v3base, integrationName: 'loracloud', eventType: 'modem_UplinkResponse', object: { a: 1 } },
    ],
    ['up', fx.v3JsonV3Up()],
  ];
  const v4: [string, Record<string, unknown>][] = [
    ['join', fx.v4Join()],
    ['status', fx.v4Status()],
    ['ack', fx.v4Ack()],
    ['txack', fx.v4Txack()],
    ['log', fx.v4Log()],
    ['location', fx.v4Location()],
    ['integration', { ...fx.v4Status(), integrationName: 'loracloud', eventType: 'x', object: { b: 2 } }],
    ['up', fx.v4Up()],
  ];
  const records = (list: [string, Record<string, unknown>][], map = (b: Record<string, unknown>) => b) =>
    list.map(([event, body]) => {
      const e = parseEvent(map(body), { event }, Date.UTC(2024, 6, 18, 9, 40, 2, 113));
      const record: Record<string, unknown> = {
        key: dedupKey(e),
        ...buildRecord(e, config({ decoder: 'cayenne-lpp' }), noCounters).payload,
      };
      return record;
    });

  it('v4 JSON', () => {
    expect(records(v4)).toMatchSnapshot();
  });

  it('v3 json_v3', () => {
    expect(records(v3)).toMatchSnapshot();
  });

  it('v3 json: the same records as json_v3 but for the format', () => {
    const json = records(
      v3.filter(([event]) => event !== 'up'),
      asV3Json,
    );
    const jsonV3 = records(v3.filter(([event]) => event !== 'up'));
    expect(json.map((r) => r.format)).toEqual(json.map(() => 'v3-json'));
    expect(json.map((r) => ({ ...r, format: 'v3-json_v3' }))).toEqual(jsonV3);
    expect(records([['up', fx.v3JsonUp()]])).toMatchSnapshot();
  });
});
