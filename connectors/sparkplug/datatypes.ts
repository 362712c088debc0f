/**
 * Sparkplug B datatypes <-> passerelle values, both ways, without loss:
 * - Int8..Int32, UInt8..UInt32, Double: JSON numbers; Float: the shortest decimal that reads back
 *   as the same float32 (21.299999237060547 -> 21.3); NaN and infinities as the strings "NaN",
 *   "Infinity", "-Infinity" (JSON has none), as the OPC UA source does.
 * - Int64 and UInt64: exact decimal strings (a JSON number loses digits above 2^53).
 * - DateTime: an ISO 8601 string (milliseconds); outside the range of a JavaScript Date, the
 *   decimal milliseconds.
 * - Bytes and File: base64 strings.
 * - DataSet: `{ columns, types, rows }`, each cell mapped by its column type (null when unset).
 * - Template: `{ templateRef?, version?, isDefinition, parameters: [{name, type, value}], metrics }`.
 * - PropertySet: `{ key: { type, value } }`; PropertySetList: an array of those.
 * - Arrays (Sparkplug 3.0, packed little-endian in bytes_value): JSON arrays of the element mapping.
 *
 * Signed 8/16/32-bit values travel in the uint32 `int_value` field; Tahu writes -1 as 0xFFFFFFFF
 * while others write the two's complement of the width (0xFF): both read back as -1.
 */

export const DataType = {
  Unknown: 0,
  Int8: 1,
  Int16: 2,
  Int32: 3,
  Int64: 4,
  UInt8: 5,
  UInt16: 6,
  UInt32: 7,
  UInt64: 8,
  Float: 9,
  Double: 10,
  Boolean: 11,
  String: 12,
  DateTime: 13,
  Text: 14,
  UUID: 15,
  DataSet: 16,
  Bytes: 17,
  File: 18,
  Template: 19,
  PropertySet: 20,
  PropertySetList: 21,
  Int8Array: 22,
  Int16Array: 23,
  Int32Array: 24,
  Int64Array: 25,
  UInt8Array: 26,
  UInt16Array: 27,
  UInt32Array: 28,
  UInt64Array: 29,
  FloatArray: 30,
  DoubleArray: 31,
  BooleanArray: 32,
  StringArray: 33,
  DateTimeArray: 34,
} as const;

export type DataTypeName = keyof typeof DataType;

const NAMES: string[] = [];
const BY_LOWER = new Map<string, number>();
for (const [name, code] of Object.entries(DataType)) {
  NAMES[code] = name;
  BY_LOWER.set(name.toLowerCase(), code);
}

/** The name of a datatype code, or undefined for a code Sparkplug does not define. */
export function dataTypeName(code: number): DataTypeName | undefined {
  return NAMES[code] as DataTypeName | undefined;
}

/** The code of a datatype name (case-insensitive) or code; undefined when unknown. */
export function dataTypeCode(type: string | number): number | undefined {
  if (typeof type === 'number') return NAMES[type] !== undefined && type !== 0 ? type : undefined;
  const code = BY_LOWER.get(type.toLowerCase());
  return code === 0 ? undefined : code;
}

/** A value that a datatype can not hold, or a field that does not match its datatype. */
export class SparkplugValueError extends Error {
  override readonly name = 'SparkplugValueError';
}

/** What the converted values are made of: JSON, no bigint, no bytes. */
export type PasserelleValue =
  null | boolean | number | string | PasserelleValue[] | { [key: string]: PasserelleValue };

/** A uint64 as protobufjs holds it (a Long) or as it accepts it for writing. */
export interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
}

/** The value fields shared by Metric, PropertyValue, Parameter and DataSetValue. */
export interface ValueFields {
  intValue?: number;
  longValue?: number | LongLike;
  floatValue?: number;
  doubleValue?: number;
  booleanValue?: boolean;
  stringValue?: string;
  bytesValue?: Uint8Array;
  datasetValue?: ProtoDataSet;
  templateValue?: ProtoTemplate;
  propertysetValue?: ProtoPropertySet;
  propertysetsValue?: ProtoPropertySetList;
}

export interface ProtoMetaData {
  isMultiPart?: boolean;
  contentType?: string;
  size?: number | LongLike;
  seq?: number | LongLike;
  fileName?: string;
  fileType?: string;
  md5?: string;
  description?: string;
}

export interface ProtoMetric extends ValueFields {
  name?: string;
  alias?: number | LongLike;
  timestamp?: number | LongLike;
  datatype?: number;
  isHistorical?: boolean;
  isTransient?: boolean;
  isNull?: boolean;
  metadata?: ProtoMetaData;
  properties?: ProtoPropertySet;
}
export interface ProtoPropertyValue extends ValueFields {
  type?: number;
  isNull?: boolean;
}
export interface ProtoPropertySet {
  keys?: string[];
  values?: ProtoPropertyValue[];
}
export interface ProtoPropertySetList {
  propertyset?: ProtoPropertySet[];
}
export interface ProtoDataSet {
  numOfColumns?: number | LongLike;
  columns?: string[];
  types?: number[];
  rows?: { elements?: ValueFields[] }[];
}
export interface ProtoParameter extends ValueFields {
  name?: string;
  type?: number;
}
export interface ProtoTemplate {
  version?: string;
  metrics?: ProtoMetric[];
  parameters?: ProtoParameter[];
  templateRef?: string;
  isDefinition?: boolean;
}

/** Deepest nesting of templates and property sets converted (each level is a recursion). */
export const MAX_VALUE_DEPTH = 16;

const own = (o: object, key: string): boolean => Object.prototype.hasOwnProperty.call(o, key);
/** protobufjs' generated classes keep defaults on the prototype: only own fields were on the wire. */
function has<K extends string>(o: object, key: K): boolean {
  return (
    own(o, key) &&
    (o as Record<string, unknown>)[key] !== undefined &&
    (o as Record<string, unknown>)[key] !== null
  );
}

const TWO_64 = 1n << 64n;

/** A protobufjs uint64 (Long or number) as an unsigned bigint. */
export function longToBigInt(v: number | LongLike | bigint): bigint {
  if (typeof v === 'bigint') return BigInt.asUintN(64, v);
  if (typeof v === 'number') return BigInt.asUintN(64, BigInt(Math.trunc(v)));
  return (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
}

/** An unsigned 64-bit bigint as protobufjs writes it. */
export function bigIntToLong(v: bigint): LongLike {
  const u = BigInt.asUintN(64, v);
  return { low: Number(u & 0xffffffffn) | 0, high: Number(u >> 32n) | 0, unsigned: true };
}

/** A uint64 field as a JavaScript number when it is exact, else its decimal string. */
export function longToNumber(v: number | LongLike): number | string {
  const b = longToBigInt(v);
  return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b.toString();
}

/** The shortest decimal that reads back as the same float32. */
export function float32ToNumber(value: number): number {
  if (!Number.isFinite(value) || value === 0) return value;
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) return candidate;
  }
  return value;
}

function nonFinite(n: number): number | string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  return n;
}

const MAX_DATE_MS = 8.64e15;

/** Milliseconds since the epoch (signed 64-bit) as an ISO string, or decimal text out of Date's range. */
export function dateTimeToValue(ms: bigint): string {
  if (ms >= -BigInt(MAX_DATE_MS) && ms <= BigInt(MAX_DATE_MS)) return new Date(Number(ms)).toISOString();
  return ms.toString();
}

/** The unsigned 32 bits of int_value, or of long_value when an encoder put it there. */
function u32(f: ValueFields): number | undefined {
  if (has(f, 'intValue')) return f.intValue! >>> 0;
  if (has(f, 'longValue')) {
    const b = longToBigInt(f.longValue!);
    if (b > 0xffffffffn && b < TWO_64 - 0x80000000n)
      throw new SparkplugValueError(`${b} does not fit in 32 bits`);
    return Number(b & 0xffffffffn);
  }
  return undefined;
}

/** A signed integer of `bits` width from the uint32 field, whichever sign convention was used. */
function signedOf(raw: number, bits: number): number {
  const s32 = raw | 0;
  const half = 2 ** (bits - 1);
  if (s32 >= -half && s32 < half) return s32;
  if (raw < 2 ** bits) return raw - 2 ** bits;
  throw new SparkplugValueError(`${raw} does not fit in Int${bits}`);
}

/** The uint64 field (or int_value when an encoder put a small value there) as a bigint. */
function u64(f: ValueFields): bigint | undefined {
  if (has(f, 'longValue')) return longToBigInt(f.longValue!);
  if (has(f, 'intValue')) return BigInt(f.intValue! >>> 0);
  return undefined;
}

function checkUnsigned(value: number, bits: number, name: string): number {
  if (value >= 2 ** bits) throw new SparkplugValueError(`${value} does not fit in ${name}`);
  return value;
}

/**
 * Converts the value fields of a metric, property, parameter or dataset cell of the given
 * datatype to a passerelle value. No value field set: null. Throws SparkplugValueError.
 */
export function decodeValue(datatype: number, f: ValueFields, depth = 0): PasserelleValue {
  const value = decodeField(datatype, f, depth);
  if (value === null) {
    // No field of its datatype, but another one: the sender and the birth disagree on the type.
    const other = VALUE_FIELDS.find((key) => has(f, key));
    if (other)
      throw new SparkplugValueError(`a ${dataTypeName(datatype) ?? datatype} value carries ${other} instead`);
  }
  return value;
}

const VALUE_FIELDS = [
  'intValue',
  'longValue',
  'floatValue',
  'doubleValue',
  'booleanValue',
  'stringValue',
  'bytesValue',
  'datasetValue',
  'templateValue',
  'propertysetValue',
  'propertysetsValue',
] as const;

function decodeField(datatype: number, f: ValueFields, depth: number): PasserelleValue {
  if (depth > MAX_VALUE_DEPTH)
    throw new SparkplugValueError(`values nested deeper than ${MAX_VALUE_DEPTH} levels`);
  switch (datatype) {
    case DataType.Int8:
    case DataType.Int16:
    case DataType.Int32: {
      const raw = u32(f);
      return raw === undefined
        ? null
        : signedOf(raw, datatype === DataType.Int8 ? 8 : datatype === DataType.Int16 ? 16 : 32);
    }
    case DataType.UInt8:
    case DataType.UInt16:
    case DataType.UInt32: {
      const raw = u32(f);
      if (raw === undefined) return null;
      return datatype === DataType.UInt32
        ? raw
        : checkUnsigned(raw, datatype === DataType.UInt8 ? 8 : 16, dataTypeName(datatype)!);
    }
    case DataType.Int64: {
      const b = u64(f);
      return b === undefined ? null : BigInt.asIntN(64, b).toString();
    }
    case DataType.UInt64: {
      const b = u64(f);
      return b === undefined ? null : b.toString();
    }
    case DataType.DateTime: {
      const b = u64(f);
      return b === undefined ? null : dateTimeToValue(BigInt.asIntN(64, b));
    }
    case DataType.Float:
      if (has(f, 'floatValue'))
        return Number.isFinite(f.floatValue) ? float32ToNumber(f.floatValue!) : nonFinite(f.floatValue!);
      if (has(f, 'doubleValue')) return nonFinite(Math.fround(f.doubleValue!));
      return null;
    case DataType.Double:
      if (has(f, 'doubleValue')) return nonFinite(f.doubleValue!);
      if (has(f, 'floatValue')) return nonFinite(f.floatValue!);
      return null;
    case DataType.Boolean:
      if (has(f, 'booleanValue')) return f.booleanValue!;
      return null;
    case DataType.String:
    case DataType.Text:
    case DataType.UUID:
      return has(f, 'stringValue') ? f.stringValue! : null;
    case DataType.Bytes:
    case DataType.File:
      return has(f, 'bytesValue')
        ? Buffer.from(f.bytesValue!.buffer, f.bytesValue!.byteOffset, f.bytesValue!.byteLength).toString(
            'base64',
          )
        : null;
    case DataType.DataSet:
      return has(f, 'datasetValue') ? decodeDataSet(f.datasetValue!) : null;
    case DataType.Template:
      return has(f, 'templateValue') ? decodeTemplate(f.templateValue!, depth + 1) : null;
    case DataType.PropertySet:
      return has(f, 'propertysetValue') ? decodePropertySet(f.propertysetValue!, depth + 1) : null;
    case DataType.PropertySetList:
      return has(f, 'propertysetsValue')
        ? (f.propertysetsValue!.propertyset ?? []).map((set) => decodePropertySet(set, depth + 1))
        : null;
    default:
      if (datatype >= DataType.Int8Array && datatype <= DataType.DateTimeArray)
        return has(f, 'bytesValue') ? decodeArray(datatype, f.bytesValue!) : null;
      throw new SparkplugValueError(`datatype ${datatype} is not a Sparkplug B datatype`);
  }
}

/** Element width in bytes of the fixed-width array types. */
const ARRAY_WIDTH: Partial<Record<number, number>> = {
  [DataType.Int8Array]: 1,
  [DataType.Int16Array]: 2,
  [DataType.Int32Array]: 4,
  [DataType.Int64Array]: 8,
  [DataType.UInt8Array]: 1,
  [DataType.UInt16Array]: 2,
  [DataType.UInt32Array]: 4,
  [DataType.UInt64Array]: 8,
  [DataType.FloatArray]: 4,
  [DataType.DoubleArray]: 8,
  [DataType.DateTimeArray]: 8,
};

function decodeArray(datatype: number, bytes: Uint8Array): PasserelleValue[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const name = dataTypeName(datatype)!;
  if (datatype === DataType.BooleanArray) {
    if (bytes.length < 4) throw new SparkplugValueError(`${name}: ${bytes.length} bytes, no count`);
    const count = view.getUint32(0, true);
    // The count can not claim more bits than follow (a hostile count would allocate gigabytes).
    if (count > (bytes.length - 4) * 8 || Math.ceil(count / 8) !== bytes.length - 4)
      throw new SparkplugValueError(
        `${name}: count ${count} does not match ${bytes.length - 4} bytes of bits`,
      );
    const out: boolean[] = new Array<boolean>(count);
    for (let i = 0; i < count; i++) out[i] = (bytes[4 + (i >> 3)]! & (0x80 >> (i & 7))) !== 0;
    return out;
  }
  if (datatype === DataType.StringArray) {
    if (bytes.length === 0) return [];
    if (bytes[bytes.length - 1] !== 0)
      throw new SparkplugValueError(`${name}: the last string is not terminated by a NUL byte`);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength - 1)
      .toString('utf8')
      .split('\u0000');
  }
  const width = ARRAY_WIDTH[datatype]!;
  if (bytes.length % width !== 0)
    throw new SparkplugValueError(`${name}: ${bytes.length} bytes is not a multiple of ${width}`);
  const n = bytes.length / width;
  const out: PasserelleValue[] = new Array<PasserelleValue>(n);
  for (let i = 0; i < n; i++) {
    const at = i * width;
    switch (datatype) {
      case DataType.Int8Array:
        out[i] = view.getInt8(at);
        break;
      case DataType.Int16Array:
        out[i] = view.getInt16(at, true);
        break;
      case DataType.Int32Array:
        out[i] = view.getInt32(at, true);
        break;
      case DataType.Int64Array:
        out[i] = view.getBigInt64(at, true).toString();
        break;
      case DataType.UInt8Array:
        out[i] = view.getUint8(at);
        break;
      case DataType.UInt16Array:
        out[i] = view.getUint16(at, true);
        break;
      case DataType.UInt32Array:
        out[i] = view.getUint32(at, true);
        break;
      case DataType.UInt64Array:
        out[i] = view.getBigUint64(at, true).toString();
        break;
      case DataType.FloatArray: {
        const v = view.getFloat32(at, true);
        out[i] = Number.isFinite(v) ? float32ToNumber(v) : nonFinite(v);
        break;
      }
      case DataType.DoubleArray:
        out[i] = nonFinite(view.getFloat64(at, true));
        break;
      default:
        out[i] = dateTimeToValue(view.getBigInt64(at, true));
    }
  }
  return out;
}

/** Column types a DataSet may use (Sparkplug 3.0 §6.4.17: the scalar types). */
function isScalar(code: number): boolean {
  return code >= DataType.Int8 && code <= DataType.UUID;
}

function decodeDataSet(ds: ProtoDataSet): PasserelleValue {
  const columns = ds.columns ?? [];
  const types = ds.types ?? [];
  if (has(ds, 'numOfColumns') && longToBigInt(ds.numOfColumns!) !== BigInt(columns.length))
    throw new SparkplugValueError(
      `DataSet: num_of_columns is ${longToBigInt(ds.numOfColumns!)} but ${columns.length} column names are given`,
    );
  if (types.length !== columns.length)
    throw new SparkplugValueError(`DataSet: ${columns.length} columns but ${types.length} types`);
  for (const t of types)
    if (!isScalar(t)) throw new SparkplugValueError(`DataSet: column type ${t} is not a scalar datatype`);
  const rows: PasserelleValue[][] = [];
  for (const [r, row] of (ds.rows ?? []).entries()) {
    const elements = row.elements ?? [];
    if (elements.length !== columns.length)
      throw new SparkplugValueError(
        `DataSet: row ${r} has ${elements.length} values for ${columns.length} columns`,
      );
    rows.push(elements.map((cell, c) => decodeValue(types[c]!, cell)));
  }
  return { columns: [...columns], types: types.map((t) => dataTypeName(t)!), rows };
}

function decodePropertySet(set: ProtoPropertySet, depth: number): PasserelleValue {
  const keys = set.keys ?? [];
  const values = set.values ?? [];
  if (keys.length !== values.length)
    throw new SparkplugValueError(`PropertySet: ${keys.length} keys but ${values.length} values`);
  const out: Record<string, PasserelleValue> = {};
  for (let i = 0; i < keys.length; i++) {
    const pv = values[i]!;
    const code = pv.type ?? 0;
    const type = dataTypeName(code);
    if (!type || code === 0) throw new SparkplugValueError(`property "${keys[i]}": unknown type ${code}`);
    out[keys[i]!] = { type, value: pv.isNull ? null : decodeValue(code, pv, depth) };
  }
  return out;
}

/** A metric converted: its datatype by name and its value in passerelle form. */
export interface DecodedMetric {
  name?: string;
  /** uint64 alias as a decimal string (a JSON number could lose digits). */
  alias?: string;
  datatype: DataTypeName;
  value: PasserelleValue;
  /** Milliseconds since the epoch. */
  timestamp?: number;
  isHistorical?: boolean;
  isTransient?: boolean;
  properties?: Record<string, PasserelleValue>;
  metadata?: Record<string, PasserelleValue>;
}

/** Converts a decoded metric; `datatype` comes from the birth when the metric omits it (aliased data). */
export function decodeMetric(m: ProtoMetric, datatype?: number, depth = 0): DecodedMetric {
  const code = has(m, 'datatype') ? m.datatype! : datatype;
  if (code === undefined) throw new SparkplugValueError(`metric ${m.name ?? ''} has no datatype`);
  const type = dataTypeName(code);
  if (!type || code === 0)
    throw new SparkplugValueError(`metric ${m.name ?? ''}: datatype ${code} is not a Sparkplug B datatype`);
  const out: DecodedMetric = { datatype: type, value: m.isNull ? null : decodeValue(code, m, depth) };
  if (has(m, 'name')) out.name = m.name!;
  if (has(m, 'alias')) out.alias = longToBigInt(m.alias!).toString();
  if (has(m, 'timestamp')) {
    const t = longToNumber(m.timestamp!);
    if (typeof t === 'number') out.timestamp = t;
  }
  if (has(m, 'isHistorical')) out.isHistorical = m.isHistorical!;
  if (has(m, 'isTransient')) out.isTransient = m.isTransient!;
  if (has(m, 'properties'))
    out.properties = decodePropertySet(m.properties!, depth + 1) as Record<string, PasserelleValue>;
  if (has(m, 'metadata')) out.metadata = decodeMetaData(m.metadata!);
  return out;
}

function decodeMetaData(md: ProtoMetaData): Record<string, PasserelleValue> {
  const out: Record<string, PasserelleValue> = {};
  for (const key of ['isMultiPart', 'contentType', 'fileName', 'fileType', 'md5', 'description'] as const)
    if (has(md, key)) out[key] = md[key]!;
  for (const key of ['size', 'seq'] as const) if (has(md, key)) out[key] = longToNumber(md[key]!);
  return out;
}

function decodeTemplate(t: ProtoTemplate, depth: number): PasserelleValue {
  const out: Record<string, PasserelleValue> = { isDefinition: t.isDefinition === true };
  if (has(t, 'templateRef')) out.templateRef = t.templateRef!;
  if (has(t, 'version')) out.version = t.version!;
  out.parameters = (t.parameters ?? []).map((p) => {
    const code = p.type ?? 0;
    const type = dataTypeName(code);
    if (!type || code === 0)
      throw new SparkplugValueError(`template parameter "${p.name}": unknown type ${code}`);
    return { name: p.name ?? '', type, value: decodeValue(code, p, depth) };
  });
  out.metrics = (t.metrics ?? []).map((m) => decodeMetric(m, undefined, depth) as unknown as PasserelleValue);
  return out;
}

// ---------------------------------------------------------------------------------------------
// passerelle value -> Sparkplug

const INT_RANGE: Partial<Record<number, [number, number]>> = {
  [DataType.Int8]: [-128, 127],
  [DataType.Int16]: [-32768, 32767],
  [DataType.Int32]: [-2147483648, 2147483647],
  [DataType.UInt8]: [0, 255],
  [DataType.UInt16]: [0, 65535],
  [DataType.UInt32]: [0, 4294967295],
};

function describe(value: unknown): string {
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

/** An integer from a number, bigint or decimal string, within [min, max]; throws otherwise. */
export function toBigIntInRange(value: unknown, min: bigint, max: bigint, name: string): bigint {
  let b: bigint | undefined;
  if (typeof value === 'bigint') b = value;
  else if (typeof value === 'number' && Number.isInteger(value)) b = BigInt(value);
  else if (typeof value === 'string' && /^\s*[-+]?\d+\s*$/.test(value)) b = BigInt(value.trim());
  else if (typeof value === 'boolean') b = value ? 1n : 0n;
  if (b === undefined) throw new SparkplugValueError(`${describe(value)} is not an integer (${name})`);
  if (b < min || b > max) throw new SparkplugValueError(`${describe(value)} is out of the range of ${name}`);
  return b;
}

function toFloat(value: unknown, name: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string') {
    const t = value.trim();
    if (t === 'NaN') return NaN;
    if (t === 'Infinity' || t === '+Infinity') return Infinity;
    if (t === '-Infinity') return -Infinity;
    if (t !== '' && Number.isFinite(Number(t))) return Number(t);
  }
  throw new SparkplugValueError(`${describe(value)} is not a number (${name})`);
}

function toBoolean(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 0 || value === 1) return value === 1;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new SparkplugValueError(`${describe(value)} is not a boolean`);
}

/** Milliseconds since the epoch from a Date, ISO text, number or decimal text. */
export function toEpochMillis(value: unknown): bigint {
  if (value instanceof Date) {
    const t = value.getTime();
    if (Number.isNaN(t)) throw new SparkplugValueError('an invalid Date is not a DateTime');
    return BigInt(t);
  }
  if (typeof value === 'string' && !/^\s*[-+]?\d+\s*$/.test(value)) {
    const t = Date.parse(value);
    if (Number.isNaN(t)) throw new SparkplugValueError(`${describe(value)} is not a date (DateTime)`);
    return BigInt(t);
  }
  return toBigIntInRange(value, -(1n << 63n), (1n << 63n) - 1n, 'DateTime');
}

function toBytes(value: unknown, name: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 === 1)
      throw new SparkplugValueError(`${describe(value)} is not base64 (${name})`);
    return Buffer.from(value, 'base64');
  }
  throw new SparkplugValueError(`${describe(value)} is not bytes or base64 text (${name})`);
}

function toText(value: unknown, name: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  throw new SparkplugValueError(`${describe(value)} is not text (${name})`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}

/**
 * The value fields for a passerelle value of the given datatype. null gives no field (the caller
 * sets is_null). Throws SparkplugValueError with the reason.
 */
export function encodeValue(datatype: number, value: unknown, depth = 0): ValueFields {
  if (value === null || value === undefined) return {};
  if (depth > MAX_VALUE_DEPTH)
    throw new SparkplugValueError(`values nested deeper than ${MAX_VALUE_DEPTH} levels`);
  const name = dataTypeName(datatype) ?? `datatype ${datatype}`;
  const range = INT_RANGE[datatype];
  if (range) {
    const n = Number(toBigIntInRange(value, BigInt(range[0]), BigInt(range[1]), name));
    // UInt32 goes in long_value, as Tahu's encoders (Java and JavaScript) put it.
    return datatype === DataType.UInt32 ? { longValue: n } : { intValue: n >>> 0 };
  }
  switch (datatype) {
    case DataType.Int64:
      return { longValue: bigIntToLong(toBigIntInRange(value, -(1n << 63n), (1n << 63n) - 1n, name)) };
    case DataType.UInt64:
      return { longValue: bigIntToLong(toBigIntInRange(value, 0n, TWO_64 - 1n, name)) };
    case DataType.DateTime:
      return { longValue: bigIntToLong(toEpochMillis(value)) };
    case DataType.Float:
      return { floatValue: toFloat(value, name) };
    case DataType.Double:
      return { doubleValue: toFloat(value, name) };
    case DataType.Boolean:
      return { booleanValue: toBoolean(value) };
    case DataType.String:
    case DataType.Text:
    case DataType.UUID:
      return { stringValue: toText(value, name) };
    case DataType.Bytes:
    case DataType.File:
      return { bytesValue: toBytes(value, name) };
    case DataType.DataSet:
      return { datasetValue: encodeDataSet(value) };
    case DataType.Template:
      return { templateValue: encodeTemplate(value, depth + 1) };
    case DataType.PropertySet:
      return { propertysetValue: encodePropertySet(value, depth + 1) };
    case DataType.PropertySetList:
      if (!Array.isArray(value))
        throw new SparkplugValueError(`${describe(value)} is not a list of property sets`);
      return { propertysetsValue: { propertyset: value.map((set) => encodePropertySet(set, depth + 1)) } };
    default:
      if (datatype >= DataType.Int8Array && datatype <= DataType.DateTimeArray)
        return { bytesValue: encodeArray(datatype, value) };
      throw new SparkplugValueError(`datatype ${datatype} is not a Sparkplug B datatype`);
  }
}

function encodeArray(datatype: number, value: unknown): Uint8Array {
  const name = dataTypeName(datatype)!;
  if (!Array.isArray(value)) throw new SparkplugValueError(`${describe(value)} is not an array (${name})`);
  if (datatype === DataType.BooleanArray) {
    const out = Buffer.alloc(4 + Math.ceil(value.length / 8));
    out.writeUInt32LE(value.length, 0);
    value.forEach((v, i) => {
      if (toBoolean(v)) out[4 + (i >> 3)]! |= 0x80 >> (i & 7);
    });
    return out;
  }
  if (datatype === DataType.StringArray) {
    const parts = value.map((v) => {
      const s = toText(v, name);
      if (s.includes('\u0000')) throw new SparkplugValueError(`${name}: a string contains a NUL character`);
      return Buffer.from(`${s}\u0000`, 'utf8');
    });
    return Buffer.concat(parts);
  }
  const width = ARRAY_WIDTH[datatype]!;
  const out = Buffer.alloc(value.length * width);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  value.forEach((v, i) => {
    const at = i * width;
    switch (datatype) {
      case DataType.Int8Array:
        view.setInt8(at, Number(toBigIntInRange(v, -128n, 127n, name)));
        break;
      case DataType.Int16Array:
        view.setInt16(at, Number(toBigIntInRange(v, -32768n, 32767n, name)), true);
        break;
      case DataType.Int32Array:
        view.setInt32(at, Number(toBigIntInRange(v, -(1n << 31n), (1n << 31n) - 1n, name)), true);
        break;
      case DataType.Int64Array:
        view.setBigInt64(at, toBigIntInRange(v, -(1n << 63n), (1n << 63n) - 1n, name), true);
        break;
      case DataType.UInt8Array:
        view.setUint8(at, Number(toBigIntInRange(v, 0n, 255n, name)));
        break;
      case DataType.UInt16Array:
        view.setUint16(at, Number(toBigIntInRange(v, 0n, 65535n, name)), true);
        break;
      case DataType.UInt32Array:
        view.setUint32(at, Number(toBigIntInRange(v, 0n, 0xffffffffn, name)), true);
        break;
      case DataType.UInt64Array:
        view.setBigUint64(at, toBigIntInRange(v, 0n, TWO_64 - 1n, name), true);
        break;
      case DataType.FloatArray:
        view.setFloat32(at, toFloat(v, name), true);
        break;
      case DataType.DoubleArray:
        view.setFloat64(at, toFloat(v, name), true);
        break;
      default:
        view.setBigInt64(at, toEpochMillis(v), true);
    }
  });
  return out;
}

function typeCodeOf(type: unknown, what: string): number {
  const code = typeof type === 'string' || typeof type === 'number' ? dataTypeCode(type) : undefined;
  if (code === undefined) throw new SparkplugValueError(`${what}: unknown datatype ${describe(type)}`);
  return code;
}

function encodeDataSet(value: unknown): ProtoDataSet {
  if (
    !isRecord(value) ||
    !Array.isArray(value.columns) ||
    !Array.isArray(value.types) ||
    !Array.isArray(value.rows)
  )
    throw new SparkplugValueError(`${describe(value)} is not a DataSet ({ columns, types, rows })`);
  const columns = value.columns.map((c) => toText(c, 'DataSet column'));
  const types = value.types.map((t, i) => typeCodeOf(t, `DataSet column ${i}`));
  if (types.length !== columns.length)
    throw new SparkplugValueError(`DataSet: ${columns.length} columns but ${types.length} types`);
  for (const t of types)
    if (!isScalar(t))
      throw new SparkplugValueError(`DataSet: column type ${dataTypeName(t)} is not a scalar datatype`);
  const rows = value.rows.map((row, r) => {
    if (!Array.isArray(row) || row.length !== columns.length)
      throw new SparkplugValueError(`DataSet: row ${r} does not have ${columns.length} values`);
    return { elements: row.map((cell, c) => encodeValue(types[c]!, cell)) };
  });
  return { numOfColumns: columns.length, columns, types, rows };
}

/** A property set from `{ key: { type, value } }`, or `{ key: value }` with the type inferred. */
export function encodePropertySet(value: unknown, depth = 0): ProtoPropertySet {
  if (!isRecord(value)) throw new SparkplugValueError(`${describe(value)} is not a property set`);
  const keys: string[] = [];
  const values: ProtoPropertyValue[] = [];
  for (const [key, entry] of Object.entries(value)) {
    let type: number | undefined;
    let v: unknown;
    if (isRecord(entry) && 'type' in entry && 'value' in entry) {
      type = typeCodeOf(entry.type, `property "${key}"`);
      v = entry.value;
    } else {
      type = inferDataType(entry);
      v = entry;
      if (type === undefined)
        throw new SparkplugValueError(`property "${key}": no datatype for ${describe(entry)}`);
    }
    keys.push(key);
    values.push(
      v === null || v === undefined ? { type, isNull: true } : { type, ...encodeValue(type, v, depth) },
    );
  }
  return { keys, values };
}

/** A metric to encode. `value` is in passerelle form (see the top of this file). */
export interface MetricInput {
  name?: string;
  alias?: number | bigint;
  /** Code or name; omitted in aliased data messages only when `omitDatatype` is asked. */
  datatype: number | string;
  value: unknown;
  /** Milliseconds since the epoch, or a Date. */
  timestamp?: number | Date;
  isHistorical?: boolean;
  isTransient?: boolean;
  properties?: Record<string, unknown>;
  metadata?: ProtoMetaData;
}

/** The protobuf fields of one metric; throws SparkplugValueError. */
export function encodeMetric(
  m: MetricInput,
  options: { omitDatatype?: boolean } = {},
  depth = 0,
): ProtoMetric {
  const code = typeCodeOf(m.datatype, `metric ${m.name ?? String(m.alias ?? '')}`);
  // The Metric message has no field for them: they exist for property values only.
  if (code === DataType.PropertySet || code === DataType.PropertySetList)
    throw new SparkplugValueError(
      `metric ${m.name ?? ''}: ${dataTypeName(code)} is a property type, not a metric type`,
    );
  const out: ProtoMetric = {};
  if (m.name !== undefined) out.name = m.name;
  if (m.alias !== undefined) out.alias = bigIntToLong(BigInt(m.alias));
  if (m.timestamp !== undefined)
    out.timestamp = bigIntToLong(
      BigInt(m.timestamp instanceof Date ? m.timestamp.getTime() : Math.trunc(m.timestamp)),
    );
  if (!options.omitDatatype) out.datatype = code;
  if (m.isHistorical !== undefined) out.isHistorical = m.isHistorical;
  if (m.isTransient !== undefined) out.isTransient = m.isTransient;
  if (m.metadata !== undefined) out.metadata = m.metadata;
  if (m.properties !== undefined) out.properties = encodePropertySet(m.properties, depth + 1);
  if (m.value === null || m.value === undefined) out.isNull = true;
  else Object.assign(out, encodeValue(code, m.value, depth));
  return out;
}

function encodeTemplate(value: unknown, depth: number): ProtoTemplate {
  if (!isRecord(value)) throw new SparkplugValueError(`${describe(value)} is not a Template`);
  const out: ProtoTemplate = { isDefinition: value.isDefinition === true };
  if (typeof value.templateRef === 'string') out.templateRef = value.templateRef;
  if (typeof value.version === 'string') out.version = value.version;
  const parameters = value.parameters ?? [];
  const metrics = value.metrics ?? [];
  if (!Array.isArray(parameters) || !Array.isArray(metrics))
    throw new SparkplugValueError('Template: parameters and metrics must be arrays');
  out.parameters = parameters.map((p: unknown) => {
    if (!isRecord(p)) throw new SparkplugValueError('Template: a parameter is not an object');
    const type = typeCodeOf(p.type, `template parameter "${String(p.name)}"`);
    return { name: toText(p.name, 'parameter name'), type, ...encodeValue(type, p.value, depth) };
  });
  out.metrics = metrics.map((m: unknown) => {
    if (!isRecord(m)) throw new SparkplugValueError('Template: a metric is not an object');
    return encodeMetric(m as unknown as MetricInput, {}, depth);
  });
  return out;
}

/**
 * A datatype for a value whose type nobody declared: booleans, text, bigint (Int64), numbers
 * (Double: an integer now may be 21.5 next time), bytes, dates, and arrays of those. Undefined
 * when nothing fits (objects, nulls, empty or mixed arrays).
 */
export function inferDataType(value: unknown): number | undefined {
  switch (typeof value) {
    case 'boolean':
      return DataType.Boolean;
    case 'number':
      return DataType.Double;
    case 'bigint':
      return DataType.Int64;
    case 'string':
      return DataType.String;
    default:
  }
  if (value instanceof Uint8Array) return DataType.Bytes;
  if (value instanceof Date) return DataType.DateTime;
  if (Array.isArray(value) && value.length > 0) {
    const kind = typeof value[0];
    if (!value.every((v) => typeof v === kind)) return undefined;
    if (kind === 'boolean') return DataType.BooleanArray;
    if (kind === 'number') return DataType.DoubleArray;
    if (kind === 'string') return DataType.StringArray;
    if (kind === 'bigint') return DataType.Int64Array;
  }
  return undefined;
}
