import { z } from 'zod';
import { CodecError } from './errors.js';

/**
 * Declarative byte layouts: a list of fields at fixed byte offsets, decoded to and encoded from a
 * flat object. No user code runs; the layout is data, validated by `byteLayoutSchema`.
 *
 *   layout:
 *     - { name: temperature, offset: 0, type: int16be, scale: 0.01 }
 *     - { name: battery, offset: 2, type: uint8, scale: 0.02, valueOffset: 2.0, decimals: 2 }
 *     - { name: doorOpen, offset: 3, type: bit, bit: 0 }
 *
 *   decodeByteLayout(layout, bytes)  -> { temperature: 21.5, battery: 3.6, doorOpen: true }
 *   encodeByteLayout(layout, object) -> Buffer (the inverse)
 *
 * Numbers: value = raw * scale + valueOffset, rounded to `decimals` when given. Encoding inverts
 * it and rounds to the nearest integer for integer types. `bit` reads one bit of the byte at
 * `offset` (bit 0 = least significant) as a boolean; several bit fields may share a byte. Bytes
 * past the last field are ignored on decode; a frame too short for a field is a CodecError, as are
 * a missing or non-numeric value and a value out of the type's range on encode.
 */

export const BYTE_LAYOUT_NUMBER_TYPES = [
  'uint8',
  'int8',
  'uint16be',
  'uint16le',
  'int16be',
  'int16le',
  'uint32be',
  'uint32le',
  'int32be',
  'int32le',
  'float32be',
  'float32le',
  'float64be',
  'float64le',
] as const;
export type ByteLayoutNumberType = (typeof BYTE_LAYOUT_NUMBER_TYPES)[number];

const fieldName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a field name is letters, digits and _ (not starting with a digit)')
  .describe('Key of the value in the decoded object.');
const byteOffset = z
  .number()
  .int()
  .min(0)
  .max(65_535)
  .describe('Byte position of the field in the frame, from 0.');

const numberField = z.strictObject({
  name: fieldName,
  offset: byteOffset,
  type: z
    .enum(BYTE_LAYOUT_NUMBER_TYPES)
    .describe(
      'Binary type: (u)int8, (u)int16/32 and float32/64, with be (big-endian) or le (little-endian).',
    ),
  scale: z
    .number()
    .refine((v) => v !== 0 && Number.isFinite(v), 'scale must be a non-zero number')
    .default(1)
    .describe('Multiplier applied to the raw value: value = raw * scale + valueOffset.'),
  valueOffset: z.number().default(0).describe('Added after scaling: value = raw * scale + valueOffset.'),
  decimals: z
    .number()
    .int()
    .min(0)
    .max(15)
    .optional()
    .describe('Round the decoded value to this many decimal places (removes floating-point noise).'),
});

const bitField = z.strictObject({
  name: fieldName,
  offset: byteOffset,
  type: z.literal('bit').describe('One bit of the byte at `offset`, decoded as a boolean.'),
  bit: z.number().int().min(0).max(7).describe('Bit index in the byte: 0 is the least significant bit.'),
});

export const byteLayoutField = z.discriminatedUnion('type', [numberField, bitField]);

/** The layout config shared by connectors and transforms. */
export const byteLayoutSchema = z
  .array(byteLayoutField)
  .min(1)
  .superRefine((fields, ctx) => {
    const seen = new Set<string>();
    fields.forEach((f, i) => {
      if (seen.has(f.name))
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate field name "${f.name}"` });
      seen.add(f.name);
    });
  })
  .describe('Fields at fixed byte offsets. Numbers: value = raw * scale + valueOffset; bits: booleans.');

export type ByteLayoutField = z.infer<typeof byteLayoutField>;
export type ByteLayout = z.infer<typeof byteLayoutSchema>;
/** A layout as written in a config, before defaults are applied. */
export type ByteLayoutInput = z.input<typeof byteLayoutSchema>;

type NumberFieldSpec = Extract<ByteLayoutField, { type: ByteLayoutNumberType }>;

const SIZE: Record<ByteLayoutNumberType, number> = {
  uint8: 1,
  int8: 1,
  uint16be: 2,
  uint16le: 2,
  int16be: 2,
  int16le: 2,
  uint32be: 4,
  uint32le: 4,
  int32be: 4,
  int32le: 4,
  float32be: 4,
  float32le: 4,
  float64be: 8,
  float64le: 8,
};

const fieldSize = (f: ByteLayoutField) => (f.type === 'bit' ? 1 : SIZE[f.type]);

function readRaw(buf: Buffer, type: ByteLayoutNumberType, at: number): number {
  switch (type) {
    case 'uint8':
      return buf.readUInt8(at);
    case 'int8':
      return buf.readInt8(at);
    case 'uint16be':
      return buf.readUInt16BE(at);
    case 'uint16le':
      return buf.readUInt16LE(at);
    case 'int16be':
      return buf.readInt16BE(at);
    case 'int16le':
      return buf.readInt16LE(at);
    case 'uint32be':
      return buf.readUInt32BE(at);
    case 'uint32le':
      return buf.readUInt32LE(at);
    case 'int32be':
      return buf.readInt32BE(at);
    case 'int32le':
      return buf.readInt32LE(at);
    case 'float32be':
      return buf.readFloatBE(at);
    case 'float32le':
      return buf.readFloatLE(at);
    case 'float64be':
      return buf.readDoubleBE(at);
    case 'float64le':
      return buf.readDoubleLE(at);
  }
}

function writeRaw(buf: Buffer, type: ByteLayoutNumberType, at: number, v: number): void {
  switch (type) {
    case 'uint8':
      buf.writeUInt8(v, at);
      return;
    case 'int8':
      buf.writeInt8(v, at);
      return;
    case 'uint16be':
      buf.writeUInt16BE(v, at);
      return;
    case 'uint16le':
      buf.writeUInt16LE(v, at);
      return;
    case 'int16be':
      buf.writeInt16BE(v, at);
      return;
    case 'int16le':
      buf.writeInt16LE(v, at);
      return;
    case 'uint32be':
      buf.writeUInt32BE(v, at);
      return;
    case 'uint32le':
      buf.writeUInt32LE(v, at);
      return;
    case 'int32be':
      buf.writeInt32BE(v, at);
      return;
    case 'int32le':
      buf.writeInt32LE(v, at);
      return;
    case 'float32be':
      buf.writeFloatBE(v, at);
      return;
    case 'float32le':
      buf.writeFloatLE(v, at);
      return;
    case 'float64be':
      buf.writeDoubleBE(v, at);
      return;
    case 'float64le':
      buf.writeDoubleLE(v, at);
      return;
  }
}

const INT_RANGE: Partial<Record<ByteLayoutNumberType, [number, number]>> = {
  uint8: [0, 0xff],
  int8: [-0x80, 0x7f],
  uint16be: [0, 0xffff],
  uint16le: [0, 0xffff],
  int16be: [-0x8000, 0x7fff],
  int16le: [-0x8000, 0x7fff],
  uint32be: [0, 0xffffffff],
  uint32le: [0, 0xffffffff],
  int32be: [-0x80000000, 0x7fffffff],
  int32le: [-0x80000000, 0x7fffffff],
};

/** raw * scale, dividing by 1/scale when that is an integer: 2170 / 100 is 21.7, 2170 * 0.01 is not. */
function applyScale(raw: number, scale: number): number {
  if (scale === 1) return raw;
  const inverse = 1 / scale;
  const rounded = Math.round(inverse);
  return Math.abs(inverse - rounded) < 1e-9 && rounded !== 0 ? raw / rounded : raw * scale;
}

function unscale(value: number, scale: number): number {
  if (scale === 1) return value;
  const inverse = 1 / scale;
  const rounded = Math.round(inverse);
  return Math.abs(inverse - rounded) < 1e-9 && rounded !== 0 ? value * rounded : value / scale;
}

const asBuffer = (bytes: Uint8Array) =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** Decodes a frame with a layout (parsed by byteLayoutSchema). Throws CodecError on a short frame. */
export function decodeByteLayout(layout: ByteLayout, bytes: Uint8Array): Record<string, number | boolean> {
  const buf = asBuffer(bytes);
  const out: Record<string, number | boolean> = {};
  for (const field of layout) {
    const size = fieldSize(field);
    if (field.offset + size > buf.length)
      throw new CodecError(
        `byte layout: field "${field.name}" (${field.type}) needs bytes ${field.offset}..${field.offset + size - 1}, the frame has ${buf.length} byte(s)`,
        { offset: field.offset },
      );
    if (field.type === 'bit') {
      out[field.name] = ((buf[field.offset] as number) & (1 << field.bit)) !== 0;
      continue;
    }
    let value = applyScale(readRaw(buf, field.type, field.offset), field.scale) + field.valueOffset;
    if (field.decimals !== undefined) value = Number(value.toFixed(field.decimals));
    out[field.name] = value;
  }
  return out;
}

function encodeNumber(field: NumberFieldSpec, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new CodecError(
      `byte layout encode: field "${field.name}" must be a finite number, got ${JSON.stringify(value) ?? 'undefined'}`,
    );
  const raw = unscale(value - field.valueOffset, field.scale);
  const range = INT_RANGE[field.type];
  if (!range) {
    if (field.type.startsWith('float32') && Math.abs(raw) > 3.4028234663852886e38)
      throw new CodecError(`byte layout encode: field "${field.name}" = ${value} does not fit a float32`);
    return raw;
  }
  const rounded = Math.round(raw);
  if (rounded < range[0] || rounded > range[1])
    throw new CodecError(
      `byte layout encode: field "${field.name}" = ${value} gives raw ${rounded}, outside ${field.type} range [${range[0]}, ${range[1]}]`,
    );
  return rounded;
}

/**
 * Encodes an object with a layout; the frame is as long as the furthest field and bytes no field
 * covers are 0. A bit field takes true/false (or 1/0). Throws CodecError on a missing or bad value.
 */
export function encodeByteLayout(layout: ByteLayout, values: Record<string, unknown>): Buffer {
  if (values === null || typeof values !== 'object' || Array.isArray(values))
    throw new CodecError('byte layout encode: expected an object with one key per field');
  const length = layout.reduce((n, f) => Math.max(n, f.offset + fieldSize(f)), 0);
  const buf = Buffer.alloc(length);
  for (const field of layout) {
    const value = values[field.name];
    if (field.type === 'bit') {
      if (value !== true && value !== false && value !== 0 && value !== 1)
        throw new CodecError(
          `byte layout encode: bit field "${field.name}" must be true, false, 1 or 0, got ${JSON.stringify(value) ?? 'undefined'}`,
        );
      if (value === true || value === 1) buf[field.offset] = (buf[field.offset] as number) | (1 << field.bit);
      continue;
    }
    writeRaw(buf, field.type, field.offset, encodeNumber(field, value));
  }
  return buf;
}
