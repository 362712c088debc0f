import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CAYENNE_TYPES,
  CodecError,
  decodeCayenneLpp,
  encodeCayenneLpp,
  type CayenneObject,
} from './index.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// The first three are the examples of the Cayenne LPP specification (myDevices, "LPP" document).
const vectors: { name: string; frame: string; decoded: CayenneObject }[] = [
  {
    name: 'spec: two temperature sensors',
    frame: '03 67 01 10 05 67 00 FF',
    decoded: { temperatureSensor: { '3': 27.2, '5': 25.5 } },
  },
  {
    name: 'spec: temperature (negative) and accelerometer',
    frame: '01 67 FF D7 06 71 04 D2 FB 2E 00 00',
    decoded: { temperatureSensor: { '1': -4.1 }, accelerometer: { '6': { x: 1.234, y: -1.234, z: 0 } } },
  },
  {
    name: 'spec: GPS (negative longitude)',
    frame: '01 88 06 76 5F F2 96 0A 00 03 E8',
    decoded: { gpsLocation: { '1': { latitude: 42.3519, longitude: -87.9094, altitude: 10 } } },
  },
  {
    name: 'ChirpStack up example (reference §3.4)',
    frame: Buffer.from('AWcA2QJofwSIB3T2AFviAA2s', 'base64').toString('hex'),
    decoded: {
      temperatureSensor: { '1': 21.7 },
      humiditySensor: { '2': 63.5 },
      gpsLocation: { '4': { latitude: 48.8694, longitude: 2.3522, altitude: 35 } },
    },
  },
  {
    name: 'GPS southern hemisphere, below sea level',
    frame: '02 88 F8 8B 0A 1B 0B CF FF FF 9C',
    decoded: { gpsLocation: { '2': { latitude: -48.8694, longitude: 177.2495, altitude: -1 } } },
  },
  {
    name: 'digital, analog (negative), illuminance, presence, barometer, gyrometer',
    frame:
      '00 00 01 01 01 00 02 02 FF 38 03 03 04 D2 04 65 FF FF 05 66 01 06 73 27 77 07 86 FF 9C 00 64 00 00',
    decoded: {
      digitalInput: { '0': 1 },
      digitalOutput: { '1': 0 },
      analogInput: { '2': -2 },
      analogOutput: { '3': 12.34 },
      illuminanceSensor: { '4': 65535 },
      presenceSensor: { '5': 1 },
      barometer: { '6': 1010.3 },
      gyrometer: { '7': { x: -1, y: 1, z: 0 } },
    },
  },
  {
    name: 'extended types',
    frame:
      '01 64 00 01 E2 40 02 74 01 2C 03 75 03 E8 04 76 00 00 03 84 05 78 55 06 79 FF F6 07 7D 01 90 08 80 00 64 09 82 00 00 04 D2 0A 83 00 00 30 39 0B 84 01 0E 0C 85 65 4A 1E 00 0D 87 FF 80 00 0E 8E 01',
    decoded: {
      genericSensor: { '1': 123456 },
      voltage: { '2': 3 },
      current: { '3': 1 },
      frequency: { '4': 900 },
      percentage: { '5': 85 },
      altitude: { '6': -10 },
      concentration: { '7': 400 },
      power: { '8': 100 },
      distance: { '9': 1.234 },
      energy: { '10': 12.345 },
      direction: { '11': 270 },
      unix_time: { '12': 1699356160 },
      color: { '13': { r: 255, g: 128, b: 0 } },
      switch: { '14': 1 },
    },
  },
  { name: 'empty frame', frame: '', decoded: {} },
  {
    name: 'same type and channel twice: the later wins',
    frame: '01 67 00 0A 01 67 00 14',
    decoded: { temperatureSensor: { '1': 2 } },
  },
];

describe('decodeCayenneLpp', () => {
  it.each(vectors)('$name', ({ frame, decoded }) => {
    expect(decodeCayenneLpp(hex(frame))).toEqual(decoded);
  });

  it.each([
    ['unknown type', '01 67 00 0A 02 FE 00', /unknown type 254 \(0xfe\) on channel 2 at offset 4/],
    [
      'truncated value',
      '01 67 00',
      /truncated: temperatureSensor on channel 1 at offset 0 needs 2 value bytes, 1 left/,
    ],
    ['truncated GPS', '01 88 06 76 5F F2 96 0A 00 03', /gpsLocation .* needs 9 value bytes, 8 left/],
    ['lone trailing byte', '01 67 00 0A 05', /record header needs 2 bytes at offset 4/],
  ])('%s is a CodecError', (_name, frame, message) => {
    let error: unknown;
    try {
      decodeCayenneLpp(hex(frame));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CodecError);
    expect((error as Error).message).toMatch(message);
  });
});

describe('encodeCayenneLpp', () => {
  it.each(vectors.filter((v) => !v.name.includes('twice')))('$name round-trips', ({ frame, decoded }) => {
    expect(encodeCayenneLpp(decoded).toString('hex')).toBe(hex(frame).toString('hex'));
  });

  it('rounds to the resolution instead of truncating', () => {
    expect(encodeCayenneLpp({ voltage: { '1': 0.29 } }).toString('hex')).toBe('0174001d');
    expect(encodeCayenneLpp({ temperatureSensor: { '1': -0.06 } }).toString('hex')).toBe('0167ffff');
  });

  it.each([
    [{ thermometer: { '1': 1 } }, /unknown type key "thermometer"/],
    [{ temperatureSensor: { '256': 1 } }, /channel "256" is not an integer 0..255/],
    [{ temperatureSensor: { a: 1 } }, /channel "a"/],
    [
      { temperatureSensor: { '1': 3276.8 } },
      /temperatureSensor.1 = 3276.8 is out of range \[-3276.8, 3276.7\]/,
    ],
    [{ humiditySensor: { '1': -1 } }, /out of range/],
    [{ temperatureSensor: { '1': '21' } }, /must be a finite number, got "21"/],
    [
      { gpsLocation: { '1': { latitude: 1, longitude: 2 } } },
      /gpsLocation.1.altitude must be a finite number/,
    ],
    [{ gpsLocation: { '1': 5 } }, /must be an object with latitude, longitude, altitude/],
    [{ temperatureSensor: [1] }, /must map channels to values/],
  ])('%j is refused', (input, message) => {
    expect(() => encodeCayenneLpp(input as unknown as CayenneObject)).toThrow(message);
  });

  it('decode(encode(x)) is x for any value representable at the resolution', () => {
    const scalarTypes = CAYENNE_TYPES.filter((t) => t.parts.length === 1);
    fc.assert(
      fc.property(
        fc.constantFrom(...scalarTypes),
        fc.integer({ min: 0, max: 255 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (type, channel, fraction) => {
          const part = type.parts[0]!;
          const bits = part.size * 8;
          const min = part.signed ? -(2 ** (bits - 1)) : 0;
          const max = part.signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
          const raw = Math.round(min + fraction * (max - min));
          const value = raw / part.divisor;
          const object = { [type.key]: { [String(channel)]: value } };
          expect(decodeCayenneLpp(encodeCayenneLpp(object))).toEqual(object);
        },
      ),
    );
  });
});
