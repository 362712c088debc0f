import protobuf from 'protobufjs';
import { errorMessage } from '../../src/sdk/index.js';
import { EventError } from './events.js';
import { COMMON_PROTO, GW_PROTO, INTEGRATION_PROTO } from './proto-definitions.js';
import type { ChirpstackEvent } from './spec.js';

/**
 * ChirpStack v4 binary Protobuf events (`[integration.mqtt] json = false`), decoded with
 * protobufjs from ChirpStack's own definitions and turned into the JSON shape of the v4 JSON
 * encoding, so that one parser handles both.
 *
 * protobufjs checks every length against the bytes left and limits nesting to 100 levels, so the
 * work is bounded by the size of the payload. (google-protobuf's deserializeBinary, used before,
 * trusted the declared length of a string: 6 bytes kept it busy for minutes.)
 */

const root = new protobuf.Root();
for (const file of [
  'google/protobuf/timestamp.proto',
  'google/protobuf/duration.proto',
  'google/protobuf/struct.proto',
])
  root.addJSON(protobuf.common.get(file)?.nested ?? {});
for (const source of [COMMON_PROTO, GW_PROTO, INTEGRATION_PROTO]) protobuf.parse(source, root);
root.resolveAll();

/** A message type of ChirpStack's definitions, e.g. `integration.DownlinkCommand`. */
export function chirpstackType(name: string): protobuf.Type {
  return root.lookupType(name);
}

const EVENT_TYPES: Partial<Record<ChirpstackEvent, string>> = {
  up: 'integration.UplinkEvent',
  join: 'integration.JoinEvent',
  status: 'integration.StatusEvent',
  ack: 'integration.AckEvent',
  txack: 'integration.TxAckEvent',
  log: 'integration.LogEvent',
  location: 'integration.LocationEvent',
};

type Json = Record<string, unknown>;

/** Decodes a binary event of the type the topic names into the v4 JSON shape. Throws EventError. */
export function decodeProtobufEvent(event: ChirpstackEvent, bytes: Uint8Array): Json {
  const typeName = EVENT_TYPES[event];
  if (!typeName)
    throw new EventError(`ChirpStack ${event} events have no Protobuf definition here; set json = true`);
  const type = root.lookupType(typeName);
  try {
    // protobufjs' Buffer reader clips a string that runs past the end instead of failing: read a
    // plain Uint8Array view, whose reader checks every length.
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    checkWireTypes(type, new protobuf.Reader(view), view.length, 0);
    return messageJson(type, type.decode(new protobuf.Reader(view)), true);
  } catch (error) {
    throw new EventError(
      `the payload is neither JSON nor a ChirpStack v4 Protobuf ${event} event (${errorMessage(error)})`,
    );
  }
}

/** What the checks and the JSON mapping need to know of a field, worked out once per type. */
interface FieldPlan {
  field: protobuf.Field;
  name: string;
  /** The wire type its values are written with: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit. */
  wireType: number;
  /** A repeated scalar that may also come packed (wire type 2). */
  packable: boolean;
  message: protobuf.Type | null;
  /** For a map: the wire type of its keys. */
  keyWireType: number;
}
interface TypePlan {
  byId: Map<number, FieldPlan>;
  fields: FieldPlan[];
}

const plans = new Map<protobuf.Type, TypePlan>();
const basicWireTypes = protobuf.types.basic as Record<string, number | undefined>;

function planOf(type: protobuf.Type): TypePlan {
  let plan = plans.get(type);
  if (plan) return plan;
  const fields = type.fieldsArray.map((field): FieldPlan => {
    const resolved = field.resolvedType;
    const wireType = resolved instanceof protobuf.Enum ? 0 : (basicWireTypes[field.type] ?? 2);
    return {
      field,
      name: field.name,
      wireType,
      packable: field.repeated && !field.map && wireType !== 2,
      message: resolved instanceof protobuf.Type ? resolved : null,
      keyWireType: field instanceof protobuf.MapField ? (basicWireTypes[field.keyType] ?? 2) : 0,
    };
  });
  plan = { fields, byId: new Map(fields.map((f) => [f.field.id, f])) };
  plans.set(type, plan);
  return plan;
}

/**
 * protobufjs reads a known field by its declared type whatever the wire type says, so a field sent
 * with the wrong wire type would decode as garbage: check every tag first, within the bounds of
 * its message, and refuse groups (proto3 has none).
 */
function checkWireTypes(type: protobuf.Type, reader: protobuf.Reader, end: number, depth: number): void {
  if (depth > protobuf.util.recursionLimit) throw new Error('maximum nesting depth exceeded');
  const plan = planOf(type);
  while (reader.pos < end) {
    const tag = reader.uint32();
    const wireType = tag & 7;
    const field = plan.byId.get(tag >>> 3);
    if (field && wireType !== field.wireType && !(field.packable && wireType === 2))
      throw new Error(
        `field ${field.name} (${field.field.id}) has wire type ${wireType}, expected ${field.wireType}`,
      );
    if (wireType === 0) skipVarint(reader);
    else if (wireType === 1) reader.skip(8);
    else if (wireType === 5) reader.skip(4);
    else if (wireType !== 2) throw new Error(`invalid wire type ${wireType} at offset ${reader.pos}`);
    else {
      const contentEnd = delimitedEnd(reader, end);
      if (field?.field.map) checkMapEntry(field, reader, contentEnd, depth);
      else if (field?.message) checkWireTypes(field.message, reader, contentEnd, depth + 1);
      reader.pos = contentEnd;
    }
  }
  if (reader.pos !== end) throw new Error('a field overruns its message');
}

function checkMapEntry(map: FieldPlan, reader: protobuf.Reader, end: number, depth: number): void {
  while (reader.pos < end) {
    const tag = reader.uint32();
    const wireType = tag & 7;
    const id = tag >>> 3;
    const expected = id === 1 ? map.keyWireType : map.wireType;
    if (id > 2 || wireType !== expected)
      throw new Error(`an entry of ${map.name} has field ${id} with wire type ${wireType}`);
    if (wireType === 0) skipVarint(reader);
    else if (wireType !== 2) reader.skip(wireType === 1 ? 8 : 4);
    else {
      const contentEnd = delimitedEnd(reader, end);
      if (id === 2 && map.message) checkWireTypes(map.message, reader, contentEnd, depth + 1);
      reader.pos = contentEnd;
    }
  }
  if (reader.pos !== end) throw new Error(`an entry of ${map.name} overruns its length`);
}

/** A varint is at most 10 bytes; protobufjs' skip() takes any number. */
function skipVarint(reader: protobuf.Reader): void {
  for (let i = 0; i < 10; i++) {
    if (reader.pos >= reader.len) throw new Error(`varint cut off at offset ${reader.pos}`);
    if ((reader.buf[reader.pos++] as number) < 0x80) return;
  }
  throw new Error(`varint longer than 10 bytes at offset ${reader.pos}`);
}

/** Reads a length and returns where that content ends; refuses a length beyond `end`. */
function delimitedEnd(reader: protobuf.Reader, end: number): number {
  const length = reader.uint32();
  if (reader.pos + length > end)
    throw new Error(`index out of range: length ${length} at offset ${reader.pos}`);
  return reader.pos + length;
}

/**
 * The proto3 JSON mapping of a decoded message, as ChirpStack's pbjson writes it: lowerCamelCase
 * names, enums by name, 64-bit integers and bytes as strings, Timestamps in RFC 3339, Structs as
 * plain objects. Like ChirpStack >= 4.1, the event itself has all its scalar fields; nested
 * messages leave out their default values.
 */
function messageJson(type: protobuf.Type, message: protobuf.Message, emitDefaults = false): Json {
  const out: Json = {};
  const values = message as unknown as Json;
  for (const plan of planOf(type).fields) {
    const value = values[plan.name];
    if (value === undefined || value === null) continue;
    if (plan.field.map) {
      const entries = Object.entries(value as Json);
      if (entries.length > 0 || emitDefaults)
        out[plan.name] = Object.fromEntries(entries.map(([k, v]) => [k, fieldJson(plan, v)]));
    } else if (plan.field.repeated) {
      const list = value as unknown[];
      if (list.length > 0 || emitDefaults) out[plan.name] = list.map((v) => fieldJson(plan, v));
    } else if (plan.message || emitDefaults || !isDefault(value)) {
      out[plan.name] = fieldJson(plan, value);
    }
  }
  return out;
}

const isByteList = (value: unknown): value is ArrayLike<unknown> =>
  value instanceof Uint8Array || Array.isArray(value);
/** 64-bit integers come as long.js values (protobufjs' dependency). */
interface LongValue {
  toString(): string;
  toNumber(): number;
  isZero(): boolean;
}
const isLong = (value: unknown): value is LongValue =>
  typeof value === 'object' && value !== null && (value as { __isLong__?: unknown }).__isLong__ === true;

function isDefault(value: unknown): boolean {
  if (isLong(value)) return value.isZero();
  return value === 0 || value === '' || value === false || (isByteList(value) && value.length === 0);
}

function fieldJson(plan: FieldPlan, value: unknown): unknown {
  if (plan.message) return wellKnownJson(plan.message, value as protobuf.Message);
  const field = plan.field;
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) return resolved.valuesById[value as number] ?? value;
  if (field.type === 'bytes') return Buffer.from(value as Uint8Array).toString('base64');
  if (isLong(value)) return value.toString();
  if (typeof value === 'number' && field.type === 'float') return shortestFloat32(value);
  return value;
}

function wellKnownJson(type: protobuf.Type, message: protobuf.Message): unknown {
  const values = message as unknown as Json;
  switch (type.fullName) {
    case '.google.protobuf.Timestamp':
      return new Date(
        seconds(values.seconds) * 1000 + Math.floor(Number(values.nanos ?? 0) / 1e6),
      ).toISOString();
    case '.google.protobuf.Duration':
      return `${seconds(values.seconds) + Number(values.nanos ?? 0) / 1e9}s`;
    case '.google.protobuf.Struct':
    case '.google.protobuf.Value':
    case '.google.protobuf.ListValue':
      return structJson(type.fullName, values);
    default:
      return messageJson(type, message);
  }
}

const seconds = (value: unknown) => (isLong(value) ? value.toNumber() : Number(value ?? 0));

/** google.protobuf.Struct, Value and ListValue as the plain JSON they stand for. */
function structJson(fullName: string, values: Json): unknown {
  if (fullName === '.google.protobuf.Struct') {
    const fields = (values.fields ?? {}) as Record<string, Json>;
    const out: Json = {};
    for (const [key, value] of Object.entries(fields))
      Object.defineProperty(out, key, {
        value: structJson('.google.protobuf.Value', value),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return out;
  }
  if (fullName === '.google.protobuf.ListValue')
    return ((values.values ?? []) as Json[]).map((v) => structJson('.google.protobuf.Value', v));
  if (values.structValue) return structJson('.google.protobuf.Struct', values.structValue as Json);
  if (values.listValue) return structJson('.google.protobuf.ListValue', values.listValue as Json);
  if (values.numberValue !== undefined) return values.numberValue;
  if (values.stringValue !== undefined) return values.stringValue;
  if (values.boolValue !== undefined) return values.boolValue;
  return null;
}

/**
 * Protobuf floats are float32: the shortest decimal that reads back as the same float32, as
 * ChirpStack's JSON encoding (serde_json, ryu) prints it, so `7.3` and not `7.300000190734863`.
 * At a power of two the float32 interval is lopsided, so the nearest decimal of a length may miss
 * it while its neighbour hits: both are tried.
 */
export function shortestFloat32(value: number): number {
  if (!Number.isFinite(value) || value === 0 || Math.fround(value) !== value) return value;
  for (let digits = 1; digits <= 9; digits++) {
    const nearest = Number(value.toPrecision(digits));
    if (Math.fround(nearest) === value) return nearest;
    const step = 10 ** (Math.floor(Math.log10(Math.abs(nearest))) - digits + 1);
    for (const neighbour of [nearest - step, nearest + step]) {
      const candidate = Number(neighbour.toPrecision(digits));
      if (Math.fround(candidate) === value) return candidate;
    }
  }
  return value;
}
