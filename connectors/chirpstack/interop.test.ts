import { createRequire } from 'node:module';
import common from '@chirpstack/chirpstack-api/common/common_pb.js';
import gw from '@chirpstack/chirpstack-api/gw/gw_pb.js';
import integration from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import { describe, expect, it } from 'vitest';
import { EventError, parseEvent, type TopicInfo } from './events.js';
import * as fx from './fixtures.js';
import { decodeProtobufEvent, shortestFloat32 } from './protobuf.js';
import { buildRecord, dedupKey } from './record.js';
import { chirpstackSourceConfig, type ChirpstackEvent } from './spec.js';
import { Deduplicator } from './tracker.js';

/**
 * Gaps found against events built from ChirpStack's own definitions, documentation and
 * marshalling code.
 */

const config = (extra: Record<string, unknown> = {}) =>
  chirpstackSourceConfig.parse({ url: 'mqtt://localhost:1883', ...extra });
const noCounters = { fCntGap: 0, fCntReset: false };
const DEV = '0101010101010101';
const topic = (event: string, devEui = DEV): TopicInfo => ({ event, devEui, applicationId: fx.APP_V4 });
const record = (body: unknown, event: string, extra: Record<string, unknown> = {}, devEui = DEV) =>
  buildRecord(parseEvent(body, topic(event, devEui), 0), config(extra), noCounters).payload;
const protobufRecord = (event: ChirpstackEvent, bytes: Uint8Array, extra: Record<string, unknown> = {}) =>
  buildRecord(parseEvent(decodeProtobufEvent(event, bytes), topic(event), 0, true), config(extra), noCounters)
    .payload;

/* eslint-disable @typescript-eslint/no-explicit-any -- google-protobuf ships no type declarations */
const requireCjs = createRequire(import.meta.url);
const { Timestamp } = requireCjs('google-protobuf/google/protobuf/timestamp_pb.js') as any;
const TIME = '2024-07-18T09:40:02.113Z';

function protoDeviceInfo(): any {
  const info: any = new integration.DeviceInfo();
  info.setDevEui(DEV);
  info.setApplicationId(fx.APP_V4);
  info.setDeviceName('gh-sensor-01');
  return info;
}
const jsonDeviceInfo = { devEui: DEV, applicationId: fx.APP_V4, deviceName: 'gh-sensor-01' };

function protoGateway(id: string, snr: number, rssi: number, location?: any): any {
  const rx: any = new gw.UplinkRxInfo();
  rx.setGatewayId(id);
  rx.setSnr(snr);
  rx.setRssi(rssi);
  if (location) rx.setLocation(location);
  return rx;
}

describe('item 3: Protobuf float32 fields give the same record as JSON', () => {
  // Values that float32 can not hold exactly: Protobuf carries 7.300000190734863 for 7.3.
  it('up: snr of every gateway and the location accuracy', () => {
    const ev: any = new integration.UplinkEvent();
    ev.setDeduplicationId('f32-up');
    ev.setTime(Timestamp.fromDate(new Date(TIME)));
    ev.setDeviceInfo(protoDeviceInfo());
    ev.setFCnt(7);
    ev.setFPort(0);
    const loc: any = new common.Location();
    loc.setLatitude(48.87);
    loc.setLongitude(2.35);
    loc.setAccuracy(12.7);
    ev.setRxInfoList([
      protoGateway('0016c001f153a14c', 7.3, -87, loc),
      protoGateway('0016c001f1500812', -13.8, -110),
    ]);
    const json = {
      deduplicationId: 'f32-up',
      time: TIME,
      deviceInfo: jsonDeviceInfo,
      devAddr: '',
      adr: false,
      dr: 0,
      fCnt: 7,
      fPort: 0,
      confirmed: false,
      data: '',
      rxInfo: [
        {
          gatewayId: '0016c001f153a14c',
          snr: 7.3,
          rssi: -87,
          location: { latitude: 48.87, longitude: 2.35, accuracy: 12.7 },
        },
        { gatewayId: '0016c001f1500812', snr: -13.8, rssi: -110 },
      ],
      regionConfigId: '',
    };
    const fromProtobuf = protobufRecord('up', ev.serializeBinary());
    expect(fromProtobuf).toEqual({ ...record(json, 'up'), format: 'v4-protobuf' });
    expect(fromProtobuf.gateway).toEqual({
      id: '0016c001f153a14c',
      rssi: -87,
      snr: 7.3,
      location: { latitude: 48.87, longitude: 2.35, altitude: 0, accuracy: 12.7 },
    });
  });

  it('status: batteryLevel; location: accuracy', () => {
    const status: any = new integration.StatusEvent();
    status.setDeduplicationId('f32-status');
    status.setTime(Timestamp.fromDate(new Date(TIME)));
    status.setDeviceInfo(protoDeviceInfo());
    status.setMargin(7);
    status.setBatteryLevel(33.1);
    const statusJson = {
      deduplicationId: 'f32-status',
      time: TIME,
      deviceInfo: jsonDeviceInfo,
      margin: 7,
      externalPowerSource: false,
      batteryLevelUnavailable: false,
      batteryLevel: 33.1,
    };
    expect(protobufRecord('status', status.serializeBinary())).toEqual({
      ...record(statusJson, 'status'),
      format: 'v4-protobuf',
    });
    expect(protobufRecord('status', status.serializeBinary()).batteryLevel).toBe(33.1);

    const location: any = new integration.LocationEvent();
    location.setDeduplicationId('f32-location');
    location.setTime(Timestamp.fromDate(new Date(TIME)));
    location.setDeviceInfo(protoDeviceInfo());
    const loc: any = new common.Location();
    loc.setLatitude(48.8694);
    loc.setLongitude(2.3522);
    loc.setAccuracy(3.3);
    location.setLocation(loc);
    const locationJson = {
      deduplicationId: 'f32-location',
      time: TIME,
      deviceInfo: jsonDeviceInfo,
      location: { latitude: 48.8694, longitude: 2.3522, accuracy: 3.3 },
    };
    expect(protobufRecord('location', location.serializeBinary())).toEqual({
      ...record(locationJson, 'location'),
      format: 'v4-protobuf',
    });
  });

  /** How many significant digits the shortest decimal that reads back as float32 `f` has, found by interval. */
  function shortestDigits(f: number): number {
    const bits = new Float32Array(1);
    const word = new Uint32Array(bits.buffer);
    bits[0] = f;
    const w = word[0] as number;
    word[0] = w + 1;
    const next = bits[0] as number;
    word[0] = w - 1;
    const previous = bits[0] as number;
    const [low, high] = f > 0 ? [(previous + f) / 2, (f + next) / 2] : [(next + f) / 2, (f + previous) / 2];
    for (let digits = 1; digits <= 9; digits++) {
      const step = 10 ** (Math.floor(Math.log10(Math.abs(f))) - digits + 1);
      for (let k = Math.ceil(low / step) - 1; k * step <= high + step; k++) {
        const candidate = Number((k * step).toPrecision(digits));
        if (Math.fround(candidate) === f) return digits;
      }
    }
    return 9;
  }
  const significantDigits = (n: number) =>
    n.toExponential().replace(/e.*$/, '').replace('-', '').replace('.', '').length;

  it('renders any float32 as its shortest round-tripping decimal, powers of two included', () => {
    expect([7.3, 87.5, -13.8, 0.1, 33.1, 3.3].map((v) => shortestFloat32(Math.fround(v)))).toEqual([
      7.3, 87.5, -13.8, 0.1, 33.1, 3.3,
    ]);
    // At a power of two the nearest 8-digit decimal misses the lopsided interval; its neighbour hits.
    expect(shortestFloat32(Math.fround(2 ** -96))).toBe(1.2621775e-29);
    const samples: number[] = [];
    for (let e = -149; e < 128; e++) samples.push(Math.fround(2 ** e), -Math.fround(2 ** e));
    const bits = new Float32Array(1);
    const word = new Uint32Array(bits.buffer);
    let seed = 12345;
    while (samples.length < 10_000) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      word[0] = seed;
      if (Number.isFinite(bits[0]) && bits[0] !== 0) samples.push(bits[0] as number);
    }
    for (const f of samples) {
      const shown = shortestFloat32(f);
      if (Math.fround(shown) !== f || significantDigits(shown) !== shortestDigits(f))
        expect({ f, shown, digits: shortestDigits(f) }).toBe('the shortest decimal of f');
    }
  });
});

describe('item 4: txack and ack deduplication keys name the device', () => {
  const txack = (devEui: string) => ({ ...fx.v4Txack(), deviceInfo: { ...jsonDeviceInfo, devEui } });
  it('the same downlinkId on two devices is two events; on one device a duplicate', () => {
    const a = parseEvent(txack('0101010101010101'), topic('txack', '0101010101010101'), 0);
    const b = parseEvent(txack('0202020202020202'), topic('txack', '0202020202020202'), 0);
    expect(dedupKey(a)).not.toBe(dedupKey(b));
    const dedup = new Deduplicator(60_000);
    expect(dedup.admit(dedupKey(a) as string, 0)).toBeDefined();
    expect(dedup.admit(dedupKey(b) as string, 0)).toBeDefined();
    expect(dedup.admit(dedupKey(a) as string, 1)).toBeUndefined();
    // v3 txack and ack events have no id: device and frame counter.
    const v3 = { ...fx.v3Status(), fCnt: 7 };
    for (const event of ['txack', 'ack']) {
      const one = dedupKey(parseEvent(v3, { event, devEui: '0202020202020202' }, 0));
      const other = dedupKey(
        parseEvent({ ...v3, devEUI: '0303030303030303' }, { event, devEui: '0303030303030303' }, 0),
      );
      expect(one).toContain('0202020202020202');
      expect(one).not.toBe(other);
    }
  });
});

describe('item 5: v3 json_v3 fields', () => {
  it('deviceProfileUUID is the deviceProfileId', () => {
    const e = parseEvent(fx.v3JsonV3Up(), { event: 'up', devEui: '0202020202020202' }, 0);
    expect(e).toMatchObject({
      deviceProfileId: 'f4f4cdb5-4d67-4b2b-8e71-0a6a8a3c5d21',
      deviceProfileName: 'cayenne-lpp',
    });
  });

  it('an error event keeps its fCnt, and a redelivery of it is a duplicate', () => {
    const first = parseEvent(fx.v3Error(), { event: 'error' }, 1000);
    const again = parseEvent(fx.v3Error(), { event: 'error' }, 5000);
    const payload = buildRecord(first, config(), noCounters).payload;
    expect(payload).toMatchObject({ event: 'log', level: 'ERROR', code: 'UPLINK_CODEC', fCnt: 10 });
    expect(dedupKey(first)).toBe(dedupKey(again));
    // The marshalers leave fCnt out when it is 0 or the error is not about an uplink.
    const { fCnt: _, ...withoutFCnt } = fx.v3Error();
    expect(
      buildRecord(parseEvent(withoutFCnt, { event: 'error' }, 0), config(), noCounters).payload.fCnt,
    ).toBeNull();
  });
});

describe('item 7: MAC-only uplinks', () => {
  it('fPort 0 without data has object null, whatever the decoder', () => {
    const mac = fx.v4Up({ fPort: 0, data: '', object: null });
    for (const extra of [
      {},
      { decoder: 'cayenne-lpp' },
      { decoder: { type: 'byte-layout', layout: [{ name: 'b', offset: 0, type: 'uint8' }] } },
    ]) {
      expect(record(mac, 'up', extra)).toMatchObject({
        fPort: 0,
        data: '',
        object: null,
        objectSource: null,
        objectError: null,
      });
    }
    // ChirpStack may send an empty object: there is still nothing decoded on fPort 0.
    expect(record(fx.v4Up({ fPort: 0, data: '', object: {} }), 'up')).toMatchObject({ object: null });
    const { data: _, ...noData } = fx.v4Up({ fPort: 0, object: null });
    expect(record(noData, 'up', { decoder: 'cayenne-lpp' })).toMatchObject({ data: '', object: null });
    // The same for v3 and an empty frame on an application port.
    const v3 = { ...fx.v3JsonV3Up(), fPort: 0, data: null, object: undefined };
    expect(
      buildRecord(parseEvent(v3, { event: 'up' }, 0), config({ decoder: 'cayenne-lpp' }), noCounters).payload,
    ).toMatchObject({ object: null, objectSource: null });
    expect(
      record(fx.v4Up({ fPort: 5, data: '', object: null }), 'up', { decoder: 'cayenne-lpp' }),
    ).toMatchObject({
      object: null,
      objectError: null,
    });
  });
});

describe('item 8: gateways without a location', () => {
  it('an empty location {} (JSON), an empty Location message (Protobuf) or 0/0 (v3) is null', () => {
    const json = fx.v4Up({ rxInfo: [{ ...fx.GATEWAY_A, location: {} }] });
    expect((record(json, 'up').gateway as { location: unknown }).location).toBeNull();
    const noLocation = fx.v4Up({ rxInfo: [{ ...fx.GATEWAY_A, location: undefined }] });
    expect((record(noLocation, 'up').gateway as { location: unknown }).location).toBeNull();

    const ev: any = new integration.UplinkEvent();
    ev.setDeduplicationId('no-location');
    ev.setTime(Timestamp.fromDate(new Date(TIME)));
    ev.setDeviceInfo(protoDeviceInfo());
    ev.setFPort(1);
    ev.setRxInfoList([protoGateway('0016c001f153a14c', 7.5, -87, new common.Location())]);
    const bytes = ev.serializeBinary();
    expect(decodeProtobufEvent('up', bytes).rxInfo).toEqual([
      { gatewayId: '0016c001f153a14c', rssi: -87, snr: 7.5, location: {} },
    ]);
    expect(protobufRecord('up', bytes).gateway).toEqual({
      id: '0016c001f153a14c',
      rssi: -87,
      snr: 7.5,
      location: null,
    });

    const v3 = fx.v3JsonV3Up();
    (v3.rxInfo[0] as Record<string, unknown>).location = { latitude: 0, longitude: 0, altitude: 0 };
    const v3Record = buildRecord(parseEvent(v3, { event: 'up' }, 0), config(), noCounters).payload;
    expect((v3Record.gateway as { location: unknown }).location).toBeNull();
  });

  it('a location event with an empty location is refused with the reason', () => {
    expect(() => parseEvent({ ...fx.v4Location(), location: {} }, topic('location'), 0)).toThrow(EventError);
    expect(() => parseEvent({ ...fx.v4Location(), location: {} }, topic('location'), 0)).toThrow(
      /location is missing or empty/,
    );
  });
});
