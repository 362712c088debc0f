import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  BYTE_LAYOUT_NUMBER_TYPES,
  byteLayoutSchema,
  CodecError,
  decodeByteLayout,
  encodeByteLayout,
  type ByteLayoutInput,
} from './index.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const layout = (input: ByteLayoutInput) => byteLayoutSchema.parse(input);

describe('decodeByteLayout / encodeByteLayout', () => {
  const cases: { name: string; layout: ByteLayoutInput; frame: string; decoded: Record<string, unknown> }[] =
    [
      {
        name: 'big-endian signed temperature with scale, battery with offset and decimals, flags',
        layout: [
          { name: 'temperature', offset: 0, type: 'int16be', scale: 0.01 },
          { name: 'battery', offset: 2, type: 'uint8', scale: 0.02, valueOffset: 2, decimals: 2 },
          { name: 'doorOpen', offset: 3, type: 'bit', bit: 0 },
          { name: 'alarm', offset: 3, type: 'bit', bit: 7 },
          { name: 'tamper', offset: 3, type: 'bit', bit: 1 },
        ],
        frame: 'F7 86 50 81',
        decoded: { temperature: -21.7, battery: 3.6, doorOpen: true, alarm: true, tamper: false },
      },
      {
        name: 'every integer type, both endiannesses',
        layout: [
          { name: 'u8', offset: 0, type: 'uint8' },
          { name: 'i8', offset: 1, type: 'int8' },
          { name: 'u16be', offset: 2, type: 'uint16be' },
          { name: 'u16le', offset: 4, type: 'uint16le' },
          { name: 'i16be', offset: 6, type: 'int16be' },
          { name: 'i16le', offset: 8, type: 'int16le' },
          { name: 'u32be', offset: 10, type: 'uint32be' },
          { name: 'u32le', offset: 14, type: 'uint32le' },
          { name: 'i32be', offset: 18, type: 'int32be' },
          { name: 'i32le', offset: 22, type: 'int32le' },
        ],
        frame: 'FF 80 12 34 34 12 FF FE FE FF DE AD BE EF EF BE AD DE 80 00 00 00 00 00 00 80',
        decoded: {
          u8: 255,
          i8: -128,
          u16be: 0x1234,
          u16le: 0x1234,
          i16be: -2,
          i16le: -2,
          u32be: 0xdeadbeef,
          u32le: 0xdeadbeef,
          i32be: -2147483648,
          i32le: -2147483648,
        },
      },
      {
        name: 'floats',
        layout: [
          { name: 'f32be', offset: 0, type: 'float32be' },
          { name: 'f32le', offset: 4, type: 'float32le' },
          { name: 'f64be', offset: 8, type: 'float64be' },
          { name: 'f64le', offset: 16, type: 'float64le' },
        ],
        frame: '41 AC 00 00 00 00 AC C1 40 09 21 FB 54 44 2D 18 18 2D 44 54 FB 21 09 C0',
        decoded: { f32be: 21.5, f32le: -21.5, f64be: 3.141592653589793, f64le: -3.141592653589793 },
      },
      {
        name: 'fields in any order, gaps left as zero',
        layout: [
          { name: 'b', offset: 3, type: 'uint8' },
          { name: 'a', offset: 0, type: 'uint8', scale: 10 },
        ],
        frame: '02 00 00 07',
        decoded: { b: 7, a: 20 },
      },
    ];

  it.each(cases)('$name', ({ layout: input, frame, decoded }) => {
    const parsed = layout(input);
    expect(decodeByteLayout(parsed, hex(frame))).toEqual(decoded);
    expect(encodeByteLayout(parsed, decoded).toString('hex')).toBe(hex(frame).toString('hex'));
  });

  it('ignores bytes past the last field', () => {
    expect(decodeByteLayout(layout([{ name: 'a', offset: 0, type: 'uint8' }]), hex('01 02 03'))).toEqual({
      a: 1,
    });
  });

  it('a frame too short for a field is a CodecError naming the field', () => {
    const parsed = layout([
      { name: 'a', offset: 0, type: 'uint8' },
      { name: 'counter', offset: 1, type: 'uint32le' },
    ]);
    expect(() => decodeByteLayout(parsed, hex('01 02 03'))).toThrow(CodecError);
    expect(() => decodeByteLayout(parsed, hex('01 02 03'))).toThrow(
      'field "counter" (uint32le) needs bytes 1..4, the frame has 3 byte(s)',
    );
  });

  it.each([
    [{ a: 256 }, /field "a" = 256 gives raw 256, outside uint8 range \[0, 255\]/],
    [{ a: -1 }, /outside uint8 range/],
    [{}, /field "a" must be a finite number, got undefined/],
    [{ a: '3' }, /must be a finite number, got "3"/],
    [{ a: Number.NaN }, /must be a finite number/],
  ])('encode %j is refused', (values, message) => {
    const parsed = layout([{ name: 'a', offset: 0, type: 'uint8' }]);
    expect(() => encodeByteLayout(parsed, values)).toThrow(message);
  });

  it('a bit field takes booleans or 0/1 only', () => {
    const parsed = layout([{ name: 'on', offset: 0, type: 'bit', bit: 2 }]);
    expect(encodeByteLayout(parsed, { on: 1 }).toString('hex')).toBe('04');
    expect(() => encodeByteLayout(parsed, { on: 'yes' })).toThrow(/must be true, false, 1 or 0/);
  });

  it('decode(encode(x)) is x for every integer type with a scale', () => {
    const intTypes = BYTE_LAYOUT_NUMBER_TYPES.filter((t) => !t.startsWith('float'));
    fc.assert(
      fc.property(fc.constantFrom(...intTypes), fc.integer({ min: -128, max: 127 }), (type, raw) => {
        const unsigned = type.startsWith('u');
        const value = (unsigned ? Math.abs(raw) : raw) / 100;
        const parsed = layout([{ name: 'v', offset: 1, type, scale: 0.01 }]);
        expect(decodeByteLayout(parsed, encodeByteLayout(parsed, { v: value }))).toEqual({ v: value });
      }),
    );
  });
});

describe('byteLayoutSchema', () => {
  it('accepts the smallest layout and applies defaults', () => {
    expect(layout([{ name: 'a', offset: 0, type: 'uint8' }])).toEqual([
      { name: 'a', offset: 0, type: 'uint8', scale: 1, valueOffset: 0 },
    ]);
  });

  it.each([
    [[], /at least 1|>=1/i],
    [[{ name: 'a', offset: 0, type: 'uint9' }], /type/],
    [[{ name: 'a', offset: 0, type: 'uint8', scal: 1 }], /scal/],
    [[{ name: 'a', offset: 0, type: 'uint8', scale: 0 }], /scale must be a non-zero number/],
    [[{ name: 'a', offset: -1, type: 'uint8' }], /offset|>=0/],
    [[{ name: 'a', offset: 0, type: 'bit', bit: 8 }], /bit|<=7/],
    [[{ name: 'a', offset: 0, type: 'bit' }], /bit/],
    [[{ name: '1a', offset: 0, type: 'uint8' }], /field name/],
    [
      [
        { name: 'a', offset: 0, type: 'uint8' },
        { name: 'a', offset: 1, type: 'uint8' },
      ],
      /duplicate field name "a"/,
    ],
  ])('refuses %j', (input, message) => {
    const result = byteLayoutSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n')).toMatch(message);
  });
});
