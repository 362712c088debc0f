import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMetric } from './datatypes.js';
import { decodePayload, encodePayload, type DecodeLimits } from './payload.js';

const LIMITS = { maxBytes: 1 << 20 };

function reason(bytes: Uint8Array, limits: DecodeLimits = LIMITS): string {
  const result = decodePayload(bytes, limits);
  if (result.ok) throw new Error('decoded a hostile payload');
  return result.reason;
}

/** A length-delimited field: tag, varint length, bytes. */
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return out;
}
function field(number: number, body: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([...varint((number << 3) | 2), ...varint(body.length)]), body]);
}

describe('Sparkplug payload decoding of hostile input', () => {
  it('refuses a length that runs past the end (the 6-byte input that kept google-protobuf busy)', () => {
    expect(reason(Buffer.from('12ffffffff0f', 'hex'))).toMatch(/declares 4294967295 bytes but 0 remain/);
    expect(reason(Buffer.from('0a ff ff ff ff 0f'.replace(/ /g, ''), 'hex'))).toContain('wire type');
  });

  it('refuses a truncated varint, groups and wrong wire types', () => {
    expect(reason(Buffer.from([0x08, 0xff]))).toContain('runs past the end');
    expect(reason(Buffer.from([0x0b]))).toContain('wire type 3');
    // metrics (field 2) as a varint: protobufjs would read the varint as a length.
    expect(reason(Buffer.from([0x10, 0x05]))).toContain('Payload field 2 has wire type 0');
  });

  it('refuses payloads above maxBytes before decoding', () => {
    expect(reason(Buffer.alloc(2000), { maxBytes: 1000 })).toContain('larger than maxPayloadBytes (1000)');
  });

  it('bounds nesting (templates in templates) and the number of metrics', () => {
    // Metric{template{metric{template{…}}}} 200 levels deep.
    let inner: Buffer = Buffer.alloc(0);
    for (let i = 0; i < 100; i++) inner = field(18, field(2, inner));
    expect(reason(field(2, inner))).toContain('nested deeper than 32');
    const many = Buffer.concat(Array.from({ length: 101 }, () => field(2, Buffer.from([0x0a, 0x01, 0x61]))));
    expect(reason(many, { maxBytes: 1 << 20, maxMetrics: 100 })).toContain('more than 100 metrics');
  });

  it('a value that lies about its size is refused when converted, not allocated', () => {
    // BooleanArray claiming 4 billion values in 5 bytes.
    const m = { name: 'b', datatype: 32, bytesValue: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01]) };
    expect(() => decodeMetric(m)).toThrow('does not match');
    expect(() => decodeMetric({ ...m, datatype: 25, bytesValue: Buffer.alloc(7) })).toThrow(
      'not a multiple of 8',
    );
    expect(() => decodeMetric({ ...m, datatype: 33, bytesValue: Buffer.from('ab') })).toThrow('NUL');
  });

  it('never throws on random bytes, and every refusal has a reason', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const result = decodePayload(bytes, LIMITS);
        if (!result.ok) expect(result.reason.length).toBeGreaterThan(10);
        else
          for (const m of result.payload.metrics) {
            try {
              decodeMetric(m, 12);
            } catch (error) {
              expect((error as Error).name).toBe('SparkplugValueError');
            }
          }
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on mutations of a valid payload', () => {
    const valid = encodePayload({
      timestamp: 1,
      seq: 3,
      metrics: [
        { name: 'a', alias: 1, datatype: 'Int32', value: 5, properties: { unit: 'm' } },
        {
          name: 't',
          datatype: 'Template',
          value: {
            isDefinition: false,
            templateRef: 'T',
            metrics: [{ name: 'x', datatype: 'Double', value: 1 }],
          },
        },
        { name: 'd', datatype: 'DataSet', value: { columns: ['c'], types: ['String'], rows: [['v']] } },
      ],
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: valid.length - 1 }),
        fc.integer({ min: 0, max: 255 }),
        (at, byte) => {
          const bytes = Buffer.from(valid);
          bytes[at] = byte;
          const result = decodePayload(bytes, LIMITS);
          if (result.ok)
            for (const m of result.payload.metrics)
              try {
                decodeMetric(m);
              } catch (error) {
                expect((error as Error).name).toBe('SparkplugValueError');
              }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
