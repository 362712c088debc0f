import { FatalError } from '../../src/sdk/index.js';
import type * as Opcua from 'node-opcua';

/**
 * OPC UA values <-> JSON. Reading maps every built-in type to JSON without losing information
 * (Int64 as decimal strings, Float as the shortest decimal of the float32); writing converts a
 * JSON value to the data type of the target node, or explains why it can not.
 */

type Lib = typeof Opcua;
type Variant = Opcua.Variant;

/** Built-in DataType ids (OPC UA Part 6 §5.1.2): fixed by the standard. */
export const BuiltIn = {
  Null: 0,
  Boolean: 1,
  SByte: 2,
  Byte: 3,
  Int16: 4,
  UInt16: 5,
  Int32: 6,
  UInt32: 7,
  Int64: 8,
  UInt64: 9,
  Float: 10,
  Double: 11,
  String: 12,
  DateTime: 13,
  Guid: 14,
  ByteString: 15,
  XmlElement: 16,
  NodeId: 17,
  ExpandedNodeId: 18,
  StatusCode: 19,
  QualifiedName: 20,
  LocalizedText: 21,
  ExtensionObject: 22,
  DataValue: 23,
  Variant: 24,
  DiagnosticInfo: 25,
} as const;

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(BuiltIn).map(([k, v]) => [v, k]));

/** The OPC UA null DateTime (0 ticks), as node-opcua decodes it: 1601-01-01T00:00:00Z. */
export const OPCUA_NULL_TIME = Date.UTC(1601, 0, 1);

export function dataTypeName(id: number): string {
  return NAMES[id] ?? `DataType${id}`;
}

/** The shortest decimal that reads back as the same float32 (21.299999237060547 -> 21.3). */
export function float32ToNumber(value: number): number {
  if (!Number.isFinite(value)) return value;
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === value) return candidate;
  }
  return value;
}

/** An Int64/UInt64 as node-opcua holds it ([high, low] 32-bit words) -> exact decimal string. */
export function int64ToString(words: unknown, signed: boolean): string {
  if (typeof words === 'number' || typeof words === 'bigint') return String(words);
  if (!Array.isArray(words) || words.length !== 2) return String(words);
  const high = BigInt((words[0] as number) >>> 0);
  const low = BigInt((words[1] as number) >>> 0);
  let n = (high << 32n) | low;
  if (signed && high & 0x80000000n) n -= 1n << 64n;
  return n.toString();
}

function nonFinite(n: number): number | string {
  // JSON has no NaN or infinities; JSON.stringify would turn them into null.
  if (Number.isNaN(n)) return 'NaN';
  return n > 0 ? 'Infinity' : '-Infinity';
}

/** One scalar of a Variant as JSON. */
function scalarToJson(dataType: number, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (dataType) {
    case BuiltIn.Float: {
      const n = v as number;
      return Number.isFinite(n) ? float32ToNumber(n) : nonFinite(n);
    }
    case BuiltIn.Double: {
      const n = v as number;
      return Number.isFinite(n) ? n : nonFinite(n);
    }
    case BuiltIn.Int64:
      return int64ToString(v, true);
    case BuiltIn.UInt64:
      return int64ToString(v, false);
    case BuiltIn.DateTime:
      return v instanceof Date ? (Number.isNaN(v.getTime()) ? null : v.toISOString()) : String(v);
    case BuiltIn.ByteString:
      return Buffer.isBuffer(v) ? v.toString('base64') : null;
    case BuiltIn.LocalizedText: {
      const t = v as { text?: string | null; locale?: string | null };
      return { text: t.text ?? null, locale: t.locale ?? null };
    }
    case BuiltIn.QualifiedName: {
      const q = v as { namespaceIndex?: number; name?: string | null };
      return { namespaceIndex: q.namespaceIndex ?? 0, name: q.name ?? null };
    }
    case BuiltIn.NodeId:
    case BuiltIn.ExpandedNodeId:
    case BuiltIn.Guid:
    case BuiltIn.XmlElement:
      return String(v);
    case BuiltIn.StatusCode:
      return (v as { name?: string }).name ?? String(v);
    case BuiltIn.ExtensionObject: {
      const o = v as { toJSON?: () => unknown };
      return typeof o.toJSON === 'function' ? o.toJSON() : (JSON.parse(JSON.stringify(v)) as unknown);
    }
    case BuiltIn.Variant:
      return variantToJson(v as Variant);
    case BuiltIn.DataValue: {
      const dv = v as Opcua.DataValue;
      return dv.value ? variantToJson(dv.value) : null;
    }
    default:
      return v;
  }
}

/**
 * Folds a flat array into nested arrays of the given dimensions (a Matrix Variant). Dimensions
 * that do not describe the values (a zero or negative length, another count) leave them flat: a
 * zero inner dimension used to loop forever.
 */
function reshape(flat: unknown[], dims: number[]): unknown[] {
  if (dims.length <= 1) return flat;
  if (!dims.every((d) => Number.isInteger(d) && d > 0) || dims.reduce((a, b) => a * b, 1) !== flat.length)
    return flat;
  return fold(flat, dims);
}

function fold(flat: unknown[], dims: number[]): unknown[] {
  if (dims.length <= 1) return flat;
  const [, ...inner] = dims;
  const size = inner.reduce((a, b) => a * b, 1);
  const out: unknown[] = [];
  for (let i = 0; i < flat.length; i += size) out.push(fold(flat.slice(i, i + size), inner));
  return out;
}

/** The JSON value of a Variant: scalars, arrays (typed arrays become plain arrays) and matrices. */
export function variantToJson(variant: Variant | null | undefined): unknown {
  if (!variant) return null;
  const dataType = variant.dataType as number;
  if (dataType === BuiltIn.Null) return null;
  const arrayType = variant.arrayType as number; // 0 Scalar, 1 Array, 2 Matrix
  if (arrayType === 0) return scalarToJson(dataType, variant.value);
  const items =
    variant.value === null || variant.value === undefined
      ? []
      : Array.from(variant.value as ArrayLike<unknown>);
  const flat = items.map((item) => scalarToJson(dataType, item));
  if (arrayType === 2 && variant.dimensions) return reshape(flat, variant.dimensions);
  return flat;
}

export type Quality = 'good' | 'uncertain' | 'bad';

/** The severity of a status code (its two top bits): 00 good, 01 uncertain, 10/11 bad. */
export function qualityOf(code: number): Quality {
  const severity = code >>> 30;
  if (severity === 0) return 'good';
  if (severity === 1) return 'uncertain';
  return 'bad';
}

/** Why a JSON value can not be written to a node of this type. */
export class CoercionError extends FatalError {}

const INT_RANGES: Record<number, [number, number]> = {
  [BuiltIn.SByte]: [-128, 127],
  [BuiltIn.Byte]: [0, 255],
  [BuiltIn.Int16]: [-32_768, 32_767],
  [BuiltIn.UInt16]: [0, 65_535],
  [BuiltIn.Int32]: [-2_147_483_648, 2_147_483_647],
  [BuiltIn.UInt32]: [0, 4_294_967_295],
};

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function toNumber(value: unknown, type: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  throw new CoercionError(`cannot convert ${describe(value)} to ${type}: expected a number`);
}

function toBigInt(value: unknown, type: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') {
    if (!Number.isInteger(value))
      throw new CoercionError(`cannot convert ${value} to ${type}: not an integer`);
    if (!Number.isSafeInteger(value))
      throw new CoercionError(
        `cannot convert ${value} to ${type} exactly: give integers above 2^53 as strings`,
      );
    return BigInt(value);
  }
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return BigInt(value.trim());
  throw new CoercionError(
    `cannot convert ${describe(value)} to ${type}: expected an integer or a decimal string`,
  );
}

/** A bigint as node-opcua's [high, low] words. */
function toWords(n: bigint): [number, number] {
  const u = BigInt.asUintN(64, n);
  return [Number(u >> 32n), Number(u & 0xffffffffn)];
}

function coerceScalar(lib: Lib, dataType: number, value: unknown): unknown {
  const type = dataTypeName(dataType);
  switch (dataType) {
    case BuiltIn.Boolean:
      if (typeof value === 'boolean') return value;
      if (value === 0 || value === 1) return value === 1;
      if (value === 'true' || value === 'false') return value === 'true';
      throw new CoercionError(`cannot convert ${describe(value)} to Boolean: expected true or false`);
    case BuiltIn.SByte:
    case BuiltIn.Byte:
    case BuiltIn.Int16:
    case BuiltIn.UInt16:
    case BuiltIn.Int32:
    case BuiltIn.UInt32: {
      const n = toNumber(value, type);
      if (!Number.isInteger(n)) throw new CoercionError(`cannot convert ${n} to ${type}: not an integer`);
      const [min, max] = INT_RANGES[dataType]!;
      if (n < min || n > max) throw new CoercionError(`${n} is out of the range of ${type} (${min}..${max})`);
      return n;
    }
    case BuiltIn.Int64:
    case BuiltIn.UInt64: {
      const n = toBigInt(value, type);
      const [min, max] =
        dataType === BuiltIn.Int64 ? [-(1n << 63n), (1n << 63n) - 1n] : [0n, (1n << 64n) - 1n];
      if (n < min || n > max) throw new CoercionError(`${n} is out of the range of ${type}`);
      return toWords(n);
    }
    case BuiltIn.Float: {
      const n = toNumber(value, type);
      if (Number.isFinite(n) && Math.abs(n) > 3.4028234663852886e38)
        throw new CoercionError(`${n} is out of the range of Float`);
      return n;
    }
    case BuiltIn.Double:
      if (value === 'NaN') return NaN;
      if (value === 'Infinity') return Infinity;
      if (value === '-Infinity') return -Infinity;
      return toNumber(value, type);
    case BuiltIn.String:
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      throw new CoercionError(`cannot convert ${describe(value)} to String`);
    case BuiltIn.DateTime: {
      const d =
        typeof value === 'number' ? new Date(value) : typeof value === 'string' ? new Date(value) : undefined;
      if (!d || Number.isNaN(d.getTime()))
        throw new CoercionError(
          `cannot convert ${describe(value)} to DateTime: expected an ISO 8601 text or milliseconds since 1970`,
        );
      return d;
    }
    case BuiltIn.ByteString:
      if (typeof value === 'string') {
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0)
          throw new CoercionError('cannot convert the text to ByteString: expected base64');
        return Buffer.from(value, 'base64');
      }
      if (value instanceof Uint8Array) return Buffer.from(value);
      if (Array.isArray(value) && value.every((b) => Number.isInteger(b) && b >= 0 && b <= 255))
        return Buffer.from(value as number[]);
      throw new CoercionError(
        `cannot convert ${describe(value)} to ByteString: expected base64 text or bytes`,
      );
    case BuiltIn.LocalizedText:
      if (typeof value === 'string') return new lib.LocalizedText({ text: value });
      if (value && typeof value === 'object' && typeof (value as { text?: unknown }).text === 'string') {
        const t = value as { text: string; locale?: unknown };
        return new lib.LocalizedText({
          text: t.text,
          locale: typeof t.locale === 'string' ? t.locale : null,
        });
      }
      throw new CoercionError(
        `cannot convert ${describe(value)} to LocalizedText: expected a text or {text, locale}`,
      );
    case BuiltIn.Guid:
      if (
        typeof value === 'string' &&
        /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(value)
      )
        return value.toUpperCase();
      throw new CoercionError(`cannot convert ${describe(value)} to Guid`);
    case BuiltIn.NodeId:
      if (typeof value === 'string') {
        try {
          return lib.resolveNodeId(value);
        } catch {
          throw new CoercionError(`cannot convert ${describe(value)} to NodeId`);
        }
      }
      throw new CoercionError(`cannot convert ${describe(value)} to NodeId: expected a text`);
    default:
      throw new CoercionError(`writing ${type} values is not supported`);
  }
}

/** What the sink knows of a node: its built-in type and whether it holds an array. */
export interface NodeType {
  dataType: number;
  /** The node's ValueRank: -1 scalar, 1 one dimension, 0/-2/-3 any or scalar-or-array. */
  valueRank: number;
}

/** The Variant to write for a JSON value, converted to the node's type; throws CoercionError. */
export function jsonToVariant(lib: Lib, node: NodeType, value: unknown): Variant {
  const { dataType, valueRank } = node;
  if (value === undefined) throw new CoercionError('the message has no value to write');
  if (value === null) throw new CoercionError(`cannot write null to a ${dataTypeName(dataType)} node`);
  const wantsArray = valueRank >= 1;
  const mayBeArray = valueRank === 0 || valueRank === -2;
  if (Array.isArray(value) && (wantsArray || mayBeArray)) {
    const items = value.map((item, i) => {
      try {
        return coerceScalar(lib, dataType, item);
      } catch (error) {
        throw new CoercionError(`item ${i}: ${(error as Error).message}`);
      }
    });
    return new lib.Variant({ dataType, arrayType: lib.VariantArrayType.Array, value: items });
  }
  if (wantsArray)
    throw new CoercionError(`the node holds an array of ${dataTypeName(dataType)}: got ${describe(value)}`);
  if (Array.isArray(value) && dataType !== BuiltIn.ByteString)
    throw new CoercionError(`the node holds a single ${dataTypeName(dataType)}: got an array`);
  return new lib.Variant({
    dataType,
    arrayType: lib.VariantArrayType.Scalar,
    value: coerceScalar(lib, dataType, value),
  });
}
