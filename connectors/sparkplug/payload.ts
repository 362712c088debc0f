import { createRequire } from 'node:module';
import type { ProtoMetric } from './datatypes.js';
import { encodeMetric, longToNumber, type LongLike, type MetricInput } from './datatypes.js';

/**
 * Sparkplug B payloads: Eclipse Tahu's generated Protobuf code (`sparkplug-payload` 1.0.3, on
 * its own protobufjs 6) reads and writes the bytes; datatypes.ts converts the values. Tahu's
 * higher-level `decodePayload` is not used: it drops the Sparkplug 3.0 array types, reads UInt32
 * above 2^31 as negative and returns Longs.
 *
 * Hostile input: before protobufjs sees the bytes, one linear pass walks the wire format with the
 * Sparkplug schema and refuses lengths that run past their message, wire types that do not match
 * the field, groups, nesting deeper than `maxDepth` and more than `maxMetrics` metrics. The work
 * is therefore bounded by the size of the payload (checked first against `maxBytes`).
 */

interface TahuRoot {
  org: {
    eclipse: {
      tahu: {
        protobuf: {
          Payload: {
            decode(reader: Uint8Array): TahuPayload;
            encode(message: object): { finish(): Uint8Array };
          };
        };
      };
    };
  };
}
interface TahuPayload {
  timestamp?: number | LongLike;
  metrics?: ProtoMetric[];
  seq?: number | LongLike;
  uuid?: string;
  body?: Uint8Array;
}

const require = createRequire(import.meta.url);
const ProtoPayload = (require('sparkplug-payload/lib/sparkplugPayloadProto.js') as TahuRoot).org.eclipse.tahu
  .protobuf.Payload;

export interface DecodeLimits {
  /** Larger payloads are refused before any decoding. */
  maxBytes: number;
  /** Metrics per payload, counting those inside templates. */
  maxMetrics?: number;
  /** Nesting of messages (payload -> metric -> template -> metric …). */
  maxDepth?: number;
}

export const DEFAULT_MAX_METRICS = 100_000;
export const DEFAULT_MAX_DEPTH = 32;

/** A decoded payload; metrics stay as protobuf objects until their datatype is known. */
export interface RawPayload {
  /** Milliseconds since the epoch. */
  timestamp?: number;
  seq?: number;
  uuid?: string;
  body?: Uint8Array;
  metrics: ProtoMetric[];
}

export type DecodeResult = { ok: true; payload: RawPayload } | { ok: false; reason: string };

const own = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);

/** Decodes a Sparkplug B payload; never throws, a reason says what is wrong. */
export function decodePayload(bytes: Uint8Array, limits: DecodeLimits): DecodeResult {
  if (bytes.length > limits.maxBytes)
    return {
      ok: false,
      reason: `payload of ${bytes.length} bytes is larger than maxPayloadBytes (${limits.maxBytes})`,
    };
  // protobufjs' Buffer reader clips a string running past the end: read a plain Uint8Array view.
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    const counts = { metrics: 0 };
    scan(
      view,
      0,
      view.length,
      PAYLOAD,
      0,
      limits.maxDepth ?? DEFAULT_MAX_DEPTH,
      counts,
      limits.maxMetrics ?? DEFAULT_MAX_METRICS,
    );
  } catch (error) {
    return { ok: false, reason: `not a Sparkplug B payload: ${(error as Error).message}` };
  }
  let decoded: TahuPayload;
  try {
    decoded = ProtoPayload.decode(view);
  } catch (error) {
    return { ok: false, reason: `not a Sparkplug B payload: ${(error as Error).message}` };
  }
  const out: RawPayload = { metrics: decoded.metrics ?? [] };
  if (own(decoded, 'timestamp') && decoded.timestamp != null) {
    const t = longToNumber(decoded.timestamp);
    if (typeof t === 'number') out.timestamp = t;
  }
  if (own(decoded, 'seq') && decoded.seq != null) {
    const s = longToNumber(decoded.seq);
    // A seq outside 0-255 is kept as a number that can not match, so the check reports it.
    out.seq = typeof s === 'number' ? s : Number.MAX_SAFE_INTEGER;
  }
  if (own(decoded, 'uuid') && decoded.uuid != null) out.uuid = decoded.uuid;
  if (own(decoded, 'body') && decoded.body != null) out.body = decoded.body;
  return { ok: true, payload: out };
}

export interface PayloadInput {
  /** Milliseconds since the epoch; Sparkplug requires one on every payload but STATE. */
  timestamp?: number;
  /** 0-255; absent on NDEATH. */
  seq?: number;
  uuid?: string;
  body?: Uint8Array;
  metrics: MetricInput[];
}

/**
 * Encodes a payload. `omitDatatype` leaves the datatype out of metrics that carry an alias (NDATA,
 * DDATA after a birth: the host knows them from the birth). Throws SparkplugValueError for a value
 * its datatype can not hold.
 */
export function encodePayload(payload: PayloadInput, options: { omitDatatype?: boolean } = {}): Uint8Array {
  const message: Record<string, unknown> = {
    metrics: payload.metrics.map((m) =>
      encodeMetric(m, { omitDatatype: options.omitDatatype === true && m.alias !== undefined }),
    ),
  };
  if (payload.timestamp !== undefined) message.timestamp = Math.trunc(payload.timestamp);
  if (payload.seq !== undefined) {
    if (!Number.isInteger(payload.seq) || payload.seq < 0 || payload.seq > 255)
      throw new RangeError(`seq ${payload.seq} is not in 0-255`);
    message.seq = payload.seq;
  }
  if (payload.uuid !== undefined) message.uuid = payload.uuid;
  if (payload.body !== undefined) message.body = payload.body;
  return ProtoPayload.encode(message).finish();
}

// ---------------------------------------------------------------------------------------------
// The wire-format walk. Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.

interface Schema {
  [field: number]: number | Schema | undefined;
}
const V = 0;
const F64 = 1;
const LEN = 2;
const F32 = 5;
/** A repeated scalar that may come packed (wire type 2) or not (wire type 0). */
const PACKABLE = -1;

const META: Schema = { 1: V, 2: LEN, 3: V, 4: V, 5: LEN, 6: LEN, 7: LEN, 8: LEN };
const PROPERTY_SET: Schema = { 1: LEN };
const PROPERTY_SET_LIST: Schema = { 1: PROPERTY_SET };
const PROPERTY_VALUE: Schema = {
  1: V,
  2: V,
  3: V,
  4: V,
  5: F32,
  6: F64,
  7: V,
  8: LEN,
  9: PROPERTY_SET,
  10: PROPERTY_SET_LIST,
  11: LEN,
};
PROPERTY_SET[2] = PROPERTY_VALUE;
const DATASET_VALUE: Schema = { 1: V, 2: V, 3: F32, 4: F64, 5: V, 6: LEN, 7: LEN };
const ROW: Schema = { 1: DATASET_VALUE };
const DATASET: Schema = { 1: V, 2: LEN, 3: PACKABLE, 4: ROW };
const PARAMETER: Schema = { 1: LEN, 2: V, 3: V, 4: V, 5: F32, 6: F64, 7: V, 8: LEN, 9: LEN };
const TEMPLATE: Schema = { 1: LEN, 3: PARAMETER, 4: LEN, 5: V };
const METRIC: Schema = {
  1: LEN,
  2: V,
  3: V,
  4: V,
  5: V,
  6: V,
  7: V,
  8: META,
  9: PROPERTY_SET,
  10: V,
  11: V,
  12: F32,
  13: F64,
  14: V,
  15: LEN,
  16: LEN,
  17: DATASET,
  18: TEMPLATE,
  19: LEN,
};
TEMPLATE[2] = METRIC;
const PAYLOAD: Schema = { 1: V, 2: METRIC, 3: V, 4: LEN, 5: LEN };

const NAMES = new Map<Schema, string>([
  [PAYLOAD, 'Payload'],
  [METRIC, 'Metric'],
  [META, 'MetaData'],
  [PROPERTY_SET, 'PropertySet'],
  [PROPERTY_SET_LIST, 'PropertySetList'],
  [PROPERTY_VALUE, 'PropertyValue'],
  [DATASET, 'DataSet'],
  [ROW, 'DataSet.Row'],
  [DATASET_VALUE, 'DataSet.DataSetValue'],
  [TEMPLATE, 'Template'],
  [PARAMETER, 'Template.Parameter'],
]);

function varint(buf: Uint8Array, at: number, end: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (at >= end) throw new Error(`a varint runs past the end at byte ${at}`);
    const byte = buf[at++]!;
    // Exact up to 2^53, which is all a length or a tag needs; larger values are only skipped.
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) === 0) return [value, at];
  }
  throw new Error(`a varint at byte ${at - 10} is longer than 10 bytes`);
}

function scan(
  buf: Uint8Array,
  start: number,
  end: number,
  schema: Schema,
  depth: number,
  maxDepth: number,
  counts: { metrics: number },
  maxMetrics: number,
): void {
  if (depth > maxDepth) throw new Error(`messages nested deeper than ${maxDepth} levels`);
  const name = NAMES.get(schema)!;
  let at = start;
  while (at < end) {
    const [tag, next] = varint(buf, at, end);
    at = next;
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) throw new Error(`${name}: field number 0 at byte ${at}`);
    const expected = schema[field];
    if (expected !== undefined) {
      const wanted = typeof expected === 'object' ? LEN : expected;
      const fits = wanted === PACKABLE ? wire === V || wire === LEN : wire === wanted;
      if (!fits)
        throw new Error(
          `${name} field ${field} has wire type ${wire}, expected ${wanted === PACKABLE ? '0 or 2' : wanted}`,
        );
    }
    switch (wire) {
      case V:
        at = varint(buf, at, end)[1];
        break;
      case F64:
        at += 8;
        break;
      case F32:
        at += 4;
        break;
      case LEN: {
        const [length, after] = varint(buf, at, end);
        if (length > end - after)
          throw new Error(`${name} field ${field} declares ${length} bytes but ${end - after} remain`);
        if (typeof expected === 'object') {
          if (expected === METRIC && ++counts.metrics > maxMetrics)
            throw new Error(`more than ${maxMetrics} metrics`);
          scan(buf, after, after + length, expected, depth + 1, maxDepth, counts, maxMetrics);
        }
        at = after + length;
        break;
      }
      default:
        // 3 and 4 are the deprecated groups, 6 and 7 do not exist.
        throw new Error(`${name} field ${field} has wire type ${wire}, which Sparkplug never uses`);
    }
    if (at > end) throw new Error(`${name} field ${field} runs past the end of its message`);
  }
}
