import { CodecError } from './errors.js';

/**
 * Cayenne Low Power Payload (LPP), decode and encode.
 *
 *   decodeCayenneLpp(bytes)   -> { temperatureSensor: { '1': 21.7 }, gpsLocation: { '4': {...} } }
 *   encodeCayenneLpp(object)  -> Buffer (the inverse)
 *
 * A frame is a run of records `channel (1 byte) | type (1 byte) | value (big-endian)`. The decoded
 * object has the shape of ChirpStack's built-in Cayenne LPP codec: one key per type, then the
 * channel as a string key; a repeated type + channel in one frame keeps the later value.
 *
 * Types: the 12 of the original specification, plus the extended types of the "extended" LPP
 * libraries that ChirpStack's codec table names (generic sensor, voltage, current, frequency,
 * percentage, altitude, concentration, power, distance, energy, direction, unix time, colour,
 * switch). Accepting them costs nothing for plain-LPP devices and decodes the extended ones.
 *
 * Errors (CodecError, a FatalError): an unknown type (the rest of the frame cannot be parsed, its
 * value length is unknown), a truncated record (including a lone trailing byte, which ChirpStack
 * silently ignores), and on encode an unknown key, a bad channel or a value out of range. Encoding
 * rounds to the type's resolution (ChirpStack truncates, so 0.29 V would become 0.28 there).
 */

export interface Vector3 {
  x: number;
  y: number;
  z: number;
}
export interface GpsLocation {
  latitude: number;
  longitude: number;
  altitude: number;
}
export interface RgbColor {
  r: number;
  g: number;
  b: number;
}
export type CayenneValue = number | Vector3 | GpsLocation | RgbColor;
/** `{ <typeKey>: { <channel>: value } }`, e.g. `{ temperatureSensor: { '3': 27.2 } }`. */
export type CayenneObject = Record<string, Record<string, CayenneValue>>;

/** A scalar component of a value: `size` bytes big-endian, `divisor` the inverse resolution. */
interface Part {
  name?: string;
  size: 1 | 2 | 3 | 4;
  signed: boolean;
  divisor: number;
}

export interface CayenneType {
  /** The LPP type byte (IPSO object id - 3200). */
  code: number;
  /** The key in the decoded object, as ChirpStack names it. */
  key: string;
  /** Value parts in frame order; a single unnamed part decodes to a plain number. */
  parts: Part[];
}

const scalar = (size: Part['size'], signed: boolean, divisor: number): Part[] => [{ size, signed, divisor }];
const xyz = (divisor: number): Part[] =>
  ['x', 'y', 'z'].map((name) => ({ name, size: 2, signed: true, divisor }));

/** The type table: code, ChirpStack key, layout. Exported so docs and tests can list it. */
export const CAYENNE_TYPES: readonly CayenneType[] = [
  { code: 0, key: 'digitalInput', parts: scalar(1, false, 1) },
  { code: 1, key: 'digitalOutput', parts: scalar(1, false, 1) },
  { code: 2, key: 'analogInput', parts: scalar(2, true, 100) },
  { code: 3, key: 'analogOutput', parts: scalar(2, true, 100) },
  { code: 100, key: 'genericSensor', parts: scalar(4, false, 1) },
  { code: 101, key: 'illuminanceSensor', parts: scalar(2, false, 1) },
  { code: 102, key: 'presenceSensor', parts: scalar(1, false, 1) },
  { code: 103, key: 'temperatureSensor', parts: scalar(2, true, 10) },
  { code: 104, key: 'humiditySensor', parts: scalar(1, false, 2) },
  { code: 113, key: 'accelerometer', parts: xyz(1000) },
  { code: 115, key: 'barometer', parts: scalar(2, false, 10) },
  { code: 116, key: 'voltage', parts: scalar(2, false, 100) },
  { code: 117, key: 'current', parts: scalar(2, false, 1000) },
  { code: 118, key: 'frequency', parts: scalar(4, false, 1) },
  { code: 120, key: 'percentage', parts: scalar(1, false, 1) },
  { code: 121, key: 'altitude', parts: scalar(2, true, 1) },
  { code: 125, key: 'concentration', parts: scalar(2, false, 1) },
  { code: 128, key: 'power', parts: scalar(2, false, 1) },
  { code: 130, key: 'distance', parts: scalar(4, false, 1000) },
  { code: 131, key: 'energy', parts: scalar(4, false, 1000) },
  { code: 132, key: 'direction', parts: scalar(2, false, 1) },
  { code: 133, key: 'unix_time', parts: scalar(4, false, 1) },
  { code: 134, key: 'gyrometer', parts: xyz(100) },
  {
    code: 135,
    key: 'color',
    parts: ['r', 'g', 'b'].map((name) => ({ name, size: 1, signed: false, divisor: 1 })),
  },
  {
    code: 136,
    key: 'gpsLocation',
    parts: [
      { name: 'latitude', size: 3, signed: true, divisor: 10_000 },
      { name: 'longitude', size: 3, signed: true, divisor: 10_000 },
      { name: 'altitude', size: 3, signed: true, divisor: 100 },
    ],
  },
  { code: 142, key: 'switch', parts: scalar(1, false, 1) },
];

const BY_CODE = new Map(CAYENNE_TYPES.map((t) => [t.code, t]));
const BY_KEY = new Map(CAYENNE_TYPES.map((t) => [t.key, t]));
const valueSize = (t: CayenneType) => t.parts.reduce((n, p) => n + p.size, 0);

function readPart(bytes: Uint8Array, at: number, part: Part): number {
  let raw = 0;
  for (let i = 0; i < part.size; i++) raw = raw * 256 + (bytes[at + i] as number);
  const bits = part.size * 8;
  if (part.signed && raw >= 2 ** (bits - 1)) raw -= 2 ** bits;
  // Divide rather than multiply by the resolution: 217 / 10 gives 21.7 exactly as ChirpStack does.
  return part.divisor === 1 ? raw : raw / part.divisor;
}

/**
 * `{ "<channel>": 0 }` for every channel, made by JSON.parse: templates for the decoded channel
 * objects. V8 gives an object that gets its first integer key (`{}` then `o['1'] = v`) a store of
 * about 20 slots, while a copy (spread) of an exactly sized object is exactly sized: a
 * three-sensor frame decoded to 880 bytes of heap, now 450 (measured, Node 20). Decoded objects
 * can live long (ChirpStack records in flight until the sink has stored them).
 */
const CHANNELS: readonly Record<string, CayenneValue>[] = Array.from(
  { length: 256 },
  (_, channel) => JSON.parse(`{"${channel}":0}`) as Record<string, CayenneValue>,
);

/** Decodes a Cayenne LPP frame. Throws CodecError on an unknown type or a truncated frame. */
export function decodeCayenneLpp(bytes: Uint8Array): CayenneObject {
  const out: CayenneObject = {};
  let at = 0;
  while (at < bytes.length) {
    if (at + 2 > bytes.length)
      throw new CodecError(
        `Cayenne LPP frame truncated: a record header needs 2 bytes at offset ${at}, the frame has ${bytes.length}`,
        { offset: at },
      );
    const channel = bytes[at] as number;
    const code = bytes[at + 1] as number;
    const type = BY_CODE.get(code);
    if (!type)
      throw new CodecError(
        `Cayenne LPP: unknown type ${code} (0x${code.toString(16).padStart(2, '0')}) on channel ${channel} at offset ${at}`,
        { offset: at },
      );
    const size = valueSize(type);
    if (at + 2 + size > bytes.length)
      throw new CodecError(
        `Cayenne LPP frame truncated: ${type.key} on channel ${channel} at offset ${at} needs ${size} value bytes, ${bytes.length - at - 2} left`,
        { offset: at },
      );
    let p = at + 2;
    let value: CayenneValue;
    if (type.parts.length === 1) {
      value = readPart(bytes, p, type.parts[0] as Part);
    } else {
      const composite: Record<string, number> = {};
      for (const part of type.parts) {
        composite[part.name as string] = readPart(bytes, p, part);
        p += part.size;
      }
      value = composite as unknown as CayenneValue;
    }
    const key = String(channel);
    const channels = out[type.key];
    if (channels) channels[key] = value;
    else {
      const first: Record<string, CayenneValue> = { ...CHANNELS[channel] };
      first[key] = value;
      out[type.key] = first;
    }
    at += 2 + size;
  }
  return out;
}

function writePart(out: Buffer, at: number, part: Part, value: unknown, where: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new CodecError(
      `Cayenne LPP encode: ${where} must be a finite number, got ${JSON.stringify(value)}`,
    );
  const raw = Math.round(value * part.divisor);
  const bits = part.size * 8;
  const min = part.signed ? -(2 ** (bits - 1)) : 0;
  const max = part.signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  if (raw < min || raw > max)
    throw new CodecError(
      `Cayenne LPP encode: ${where} = ${value} is out of range [${min / part.divisor}, ${max / part.divisor}]`,
    );
  let v = raw < 0 ? raw + 2 ** bits : raw;
  for (let i = part.size - 1; i >= 0; i--) {
    out[at + i] = v % 256;
    v = Math.floor(v / 256);
  }
}

/**
 * Encodes an object of the decoded shape into a frame, records in the object's key order.
 * Throws CodecError on an unknown type key, a channel outside 0..255 or a value out of range.
 */
export function encodeCayenneLpp(object: CayenneObject): Buffer {
  if (object === null || typeof object !== 'object' || Array.isArray(object))
    throw new CodecError(
      'Cayenne LPP encode: expected an object such as { temperatureSensor: { "1": 21.5 } }',
    );
  const records: { type: CayenneType; channel: number; value: unknown }[] = [];
  let length = 0;
  for (const [key, channels] of Object.entries(object)) {
    const type = BY_KEY.get(key);
    if (!type)
      throw new CodecError(
        `Cayenne LPP encode: unknown type key "${key}"; known: ${[...BY_KEY.keys()].join(', ')}`,
      );
    if (channels === null || typeof channels !== 'object' || Array.isArray(channels))
      throw new CodecError(`Cayenne LPP encode: ${key} must map channels to values, e.g. { "1": ... }`);
    for (const [channelKey, value] of Object.entries(channels)) {
      const channel = Number(channelKey);
      if (!/^\d{1,3}$/.test(channelKey) || channel > 255)
        throw new CodecError(`Cayenne LPP encode: ${key} channel "${channelKey}" is not an integer 0..255`);
      records.push({ type, channel, value });
      length += 2 + valueSize(type);
    }
  }
  const out = Buffer.alloc(length);
  let at = 0;
  for (const { type, channel, value } of records) {
    out[at] = channel;
    out[at + 1] = type.code;
    let p = at + 2;
    if (type.parts.length === 1) {
      writePart(out, p, type.parts[0] as Part, value, `${type.key}.${channel}`);
    } else {
      if (value === null || typeof value !== 'object')
        throw new CodecError(
          `Cayenne LPP encode: ${type.key}.${channel} must be an object with ${type.parts.map((x) => x.name).join(', ')}`,
        );
      for (const part of type.parts) {
        const v = (value as Record<string, unknown>)[part.name as string];
        writePart(out, p, part, v, `${type.key}.${channel}.${part.name}`);
        p += part.size;
      }
    }
    at += 2 + valueSize(type);
  }
  return out;
}
