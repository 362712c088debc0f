import { describe, expect, it } from 'vitest';
import { encodeCayenneLpp } from '../../src/sdk/codecs/index.js';
import { parseEvent, type ParsedEvent } from './events.js';
import * as fx from './fixtures.js';
import { IdentityCache, MAX_SHARED } from './identities.js';
import { buildRecord } from './record.js';
import { chirpstackSourceConfig } from './spec.js';

const topicOf = (devEui: string) => `application/${fx.APP_V4}/device/${devEui}/event/up`;
const up = (devEui: string, fCnt: number, change: (body: Record<string, unknown>) => void = () => {}) => {
  const body = fx.v4Up({ devEui, fCnt, deduplicationId: `d-${devEui}-${fCnt}` });
  change(body);
  return parseEvent(body, { event: 'up' }, 0);
};
const identity = (e: ParsedEvent) => ({
  devEui: e.devEui,
  deviceName: e.deviceName,
  applicationId: e.applicationId,
  applicationName: e.applicationName,
  tenantId: e.tenantId,
  tenantName: e.tenantName,
  deviceProfileId: e.deviceProfileId,
  deviceProfileName: e.deviceProfileName,
});

describe('IdentityCache (one copy of the device strings per device)', () => {
  it('leaves every field as the event has it, also when a device renames itself or moves', () => {
    const cache = new IdentityCache(10);
    const eui = '0101010101010101';
    const renamed = (body: Record<string, unknown>) => {
      const info = body.deviceInfo as Record<string, unknown>;
      info.deviceName = 'renamed';
      info.applicationName = 'Other';
      info.tenantName = 'Tenant 2';
      info.deviceProfileName = 'Profile 2';
      info.deviceProfileId = 'p2';
      info.applicationId = 'a2';
      info.tenantId = 't2';
    };
    const unnamed = (body: Record<string, unknown>) => {
      delete (body.deviceInfo as Record<string, unknown>).deviceName;
    };
    const steps: [ParsedEvent, string][] = [
      [up(eui, 1), topicOf(eui)],
      [up(eui, 2), topicOf(eui)],
      [up(eui, 3, renamed), 'elsewhere/up'],
      [up(eui, 4, renamed), 'elsewhere/up'],
      [up(eui, 5, unnamed), topicOf(eui)],
      [up(eui, 6), topicOf(eui)],
    ];
    for (const [event, topic] of steps) {
      const expected = identity(event);
      expect(cache.intern(event, topic)).toBe(topic);
      expect(identity(event)).toEqual(expected);
    }
    expect(cache.size).toBe(1);
  });

  it('holds at most maxDevices devices, the first cached going first', () => {
    const cache = new IdentityCache(2);
    for (const eui of ['0101010101010101', '0202020202020202', '0303030303030303'])
      cache.intern(up(eui, 1), topicOf(eui));
    expect(cache.size).toBe(2);
    // The evicted device is cached again, with its fields as they are.
    const back = up('0101010101010101', 2, (b) => {
      (b.deviceInfo as Record<string, unknown>).deviceName = 'new name';
    });
    cache.intern(back, 'new/topic');
    expect(back.deviceName).toBe('new name');
    expect(cache.size).toBe(2);
  });
});

describe('IdentityCache shared strings', () => {
  it('keeps at most MAX_SHARED application, tenant and profile strings, and every value as it is', () => {
    const cache = new IdentityCache(10_000);
    for (let i = 0; i < MAX_SHARED; i++) {
      const eui = (0x7000000000000000n + BigInt(i)).toString(16);
      const e = up(eui, 1, (b) => {
        (b.deviceInfo as Record<string, unknown>).applicationId = `app-${i}`;
      });
      cache.intern(e, topicOf(eui));
      expect(e.applicationId).toBe(`app-${i}`);
      expect(e.tenantName).toBe('ChirpStack');
    }
    // One application id per device, plus the 5 names and ids the devices have in common.
    expect(cache.sharedSize).toBe(MAX_SHARED);
    expect(cache.size).toBe(MAX_SHARED);
  });
});

describe('buildRecord with the Cayenne LPP decoder', () => {
  it('gives an object equal to the decoder output, in the same key order', () => {
    const frame = encodeCayenneLpp({
      temperatureSensor: { '3': -12.3, '1': 21.7 },
      humiditySensor: { '2': 63.5 },
      gpsLocation: { '4': { latitude: -33.8688, longitude: 151.2093, altitude: -4.5 } },
      accelerometer: { '7': { x: -0.001, y: 1.5, z: 0 } },
    });
    const e = parseEvent(fx.v4Up({ object: null, data: frame.toString('base64') }), { event: 'up' }, 0);
    const { payload } = buildRecord(
      e,
      chirpstackSourceConfig.parse({ url: 'mqtt://x', decoder: 'cayenne-lpp' }),
      {
        fCntGap: 0,
        fCntReset: false,
      },
    );
    const expected = {
      temperatureSensor: { '1': 21.7, '3': -12.3 },
      humiditySensor: { '2': 63.5 },
      gpsLocation: { '4': { latitude: -33.8688, longitude: 151.2093, altitude: -4.5 } },
      accelerometer: { '7': { x: -0.001, y: 1.5, z: 0 } },
    };
    expect(payload.object).toEqual(expected);
    expect(JSON.stringify(payload.object)).toBe(JSON.stringify(expected));
    expect(payload.objectSource).toBe('cayenne-lpp');
  });
});
