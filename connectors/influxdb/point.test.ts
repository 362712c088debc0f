import { describe, expect, it } from 'vitest';
import { createMessage } from '../../src/sdk/index.js';
import { escapeName, quoteString } from './line-protocol.js';
import { PointError, PointMapper, convert, isoToPrecision, readNumeric, toPrecision } from './point.js';
import { influxdbSinkConfig } from './spec.js';

const mapper = (config: Record<string, unknown>): PointMapper =>
  new PointMapper(
    influxdbSinkConfig.parse({ url: 'http://h:8086', database: 'd', measurement: 'm', ...config }),
    'p1',
  );
const msg = (payload: unknown, meta: Record<string, unknown> = {}, time = 1_700_000_000_123) =>
  createMessage({ id: 'x', payload, meta, time });

describe('point mapping', () => {
  it('writes line protocol, escaping names and values, and keeps the raw measurement for error matching', () => {
    const mapped = mapper({
      measurement: 'plant {{ topic[1] }},x',
      tags: { 'the site': 'payload.site', a: 'payload.a' },
      fields: { 'v=1': 'float', n: 'integer', on: 'boolean', s: 'string' },
    }).map(
      msg(
        { site: 'north, 2', a: 'k=v', 'v=1': 0.5, n: 3, on: false, s: 'say "hi" \\o/' },
        { 'mqtt.topic': 'a/oven' },
      ),
    );
    expect(mapped.line).toBe(
      'plant\\ oven\\,x,a=k\\=v,the\\ site=north\\,\\ 2 v\\=1=0.5,n=3i,on=false,s="say \\"hi\\" \\\\o/" 1700000000123000',
    );
    expect(mapped.measurement).toBe('plant oven,x');
    expect(mapped.fields).toEqual({ 'v=1': 0.5, n: 3, on: false, s: 'say "hi" \\o/' });
  });

  it('leaves out empty and missing tags, and renders objects as JSON', () => {
    const m = mapper({
      tags: { a: 'payload.a', b: 'payload.missing', c: 'payload.c', d: 'payload.d', p: '{{ pipeline }}' },
    });
    expect(m.map(msg({ a: 'x', c: '', d: { k: 1 }, v: 1 })).line).toBe(
      'm,a=x,d={"k":1},p=p1 d.k=1,v=1 1700000000123000',
    );
  });

  it('refuses line breaks in names and values', () => {
    expect(() => mapper({ tags: { a: 'payload.a' } }).map(msg({ a: 'x\ny', v: 1 }))).toThrow(
      /tag "a".*line break/,
    );
    expect(() => mapper({ measurement: '{{ payload.m }}' }).map(msg({ m: 'a\r', v: 1 }))).toThrow(PointError);
  });

  it('refuses a message without any field, or with an empty measurement', () => {
    expect(() => mapper({}).map(msg({ name: 'only text' }))).toThrow(
      /no field: the payload has no finite number/,
    );
    expect(() => mapper({ fields: { v: 'float' } }).map(msg({ w: 1 }))).toThrow(/none of "v" has a value/);
    expect(() => mapper({ measurement: '{{ payload.m }}' }).map(msg({ v: 1 }))).toThrow(/empty name/);
  });

  it('takes every finite number by default, flattened, skipping arrays, text and a top-level time', () => {
    expect(readNumeric({ a: 1, b: { c: { d: 2 } }, s: 'x', l: [1], t: true, time: 5, n: null })).toEqual({
      a: 1,
      'b.c.d': 2,
    });
    expect(readNumeric(3.5)).toEqual({ value: 3.5 });
    expect(readNumeric('text')).toEqual({});
    expect(() => readNumeric({ a: Infinity })).toThrow(/field "a" is Infinity/);
  });

  it('converts to declared types or says why not', () => {
    expect(convert('21.5', 'float', 'f')).toBe(21.5);
    expect(convert(3, 'integer', 'i')).toBe(3);
    expect(convert('-42', 'integer', 'i')).toBe(-42);
    expect(convert('true', 'boolean', 'b')).toBe(true);
    expect(convert(12, 'string', 's')).toBe('12');
    expect(convert({ a: 1 }, 'string', 's')).toBe('{"a":1}');
    expect(() => convert(1.5, 'integer', 'i')).toThrow(/field "i": expected an integer/);
    expect(() => convert(2 ** 60, 'integer', 'i')).toThrow(/at most 2\^53/);
    expect(() => convert('abc', 'float', 'f')).toThrow(/expected a finite number, got "abc"/);
    expect(() => convert('', 'float', 'f')).toThrow(PointError);
    expect(() => convert(1, 'boolean', 'b')).toThrow(/expected true or false/);
  });

  it('writes the message time in the write precision, as an integer', () => {
    const t = 1_700_000_000_123;
    expect(toPrecision(t, 'ms', 's')).toBe('1700000000');
    expect(toPrecision(t, 'ms', 'ms')).toBe('1700000000123');
    expect(toPrecision(t, 'ms', 'us')).toBe('1700000000123000');
    expect(toPrecision(t, 'ms', 'ns')).toBe('1700000000123000000');
    expect(toPrecision(t + 0.5, 'ms', 'us')).toBe('1700000000123500');
    expect(
      mapper({ precision: 'us' })
        .map(msg({ v: 1 }, {}, t))
        .line.split(' ')[2],
    ).toBe('1700000000123000');
  });

  it('converts between units without float errors (distinct inputs stay distinct)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      expect(toPrecision(i, 'us', 'ns')).toBe(i === 0 ? '0' : `${i}000`);
      // i / 1000 seconds is a float; scaled back it must be exactly i milliseconds.
      const ms = toPrecision(i / 1000, 's', 'ms');
      expect(ms).toBe(String(i));
      seen.add(toPrecision(i, 'us', 'us'));
    }
    expect(seen.size).toBe(20_000);
    expect(toPrecision(1.2345, 's', 'ms')).toBe('1234');
    expect(toPrecision(1_700_000_000_123_456, 'us', 'ns')).toBe('1700000000123456000');
  });

  it('reads a payload timestamp in its unit, or ISO 8601 text', () => {
    const m = mapper({ timestamp: 'payload.ts', timestampUnit: 's' });
    expect(m.map(msg({ ts: 1_700_000_000, v: 1 })).line.split(' ')[2]).toBe('1700000000000');
    expect(m.map(msg({ ts: '2023-11-14T22:13:20.5Z', v: 1 })).line.split(' ')[2]).toBe('1700000000500');
    expect(() => m.map(msg({ v: 1 }))).toThrow(/timestamp is missing/);
    expect(() => m.map(msg({ ts: 'yesterday', v: 1 }))).toThrow(/neither a number nor an ISO 8601 time/);
    const ns = mapper({ timestamp: 'payload.ts', timestampUnit: 'ns', precision: 'ns' });
    // Integer text is converted exactly: a JavaScript number would keep only about 16 of these digits.
    expect(ns.map(msg({ ts: '1700000000123456789', v: 1 })).line.split(' ')[2]).toBe('1700000000123456789');
    const toMs = mapper({ timestamp: 'payload.ts', timestampUnit: 'ns', precision: 'ms' });
    expect(toMs.map(msg({ ts: '1700000000123956789', v: 1 })).line.split(' ')[2]).toBe('1700000000123');
    expect(toMs.map(msg({ ts: '-1', v: 1 })).line.split(' ')[2]).toBe('-1');
    expect(m.map(msg({ ts: '1700000000', v: 1 })).line.split(' ')[2]).toBe('1700000000000');
  });
});

describe('timestamps from the payload', () => {
  it('keeps the fraction of a second of an ISO 8601 text down to the precision', () => {
    const at = (text: string, precision: string): string | undefined =>
      isoToPrecision(text, precision as 'ns');
    expect(at('2026-12-05T08:00:00.123456789Z', 'ns')).toBe('1796457600123456789');
    expect(at('2026-12-05T08:00:00.123456789Z', 'us')).toBe('1796457600123456');
    expect(at('2026-12-05T08:00:00.123456789Z', 'ms')).toBe('1796457600123');
    expect(at('2026-12-05T08:00:00.123456789Z', 's')).toBe('1796457600');
    expect(at('2026-12-05T10:00:00,5+02:00', 'ns')).toBe('1796457600500000000');
    expect(at('2026-12-05T08:00:00.1234567891234Z', 'ns')).toBe('1796457600123456789');
    expect(at('1969-12-31T23:59:59.9999999Z', 'ns')).toBe('-100');
    expect(at('1969-12-31T23:59:59.9999999Z', 'us')).toBe('-1');
    expect(at('2026-12-05T08:00:00Z', 'ns')).toBe('1796457600000000000');
    expect(at('not a time', 'ns')).toBeUndefined();
    const m = mapper({ timestamp: 'payload.ts', precision: 'ns', fields: { v: 'float' } });
    expect(m.map(msg({ ts: '2026-12-05T08:00:00.000000001Z', v: 1 })).line).toBe('m v=1 1796457600000000001');
  });

  it('does not also write the timestamp as a field, unless asked', () => {
    expect(mapper({ timestamp: 'payload.ts' }).map(msg({ ts: 1_700_000_000_000, v: 1 })).line).toBe(
      'm v=1 1700000000000',
    );
    expect(
      mapper({ timestamp: 'payload.at.ts' }).map(msg({ at: { ts: 1_700_000_000_000, n: 2 }, v: 1 })).line,
    ).toBe('m at.n=2,v=1 1700000000000');
    expect(
      mapper({ timestamp: 'payload.ts', timestampField: true }).map(msg({ ts: 1_700_000_000_000, v: 1 }))
        .line,
    ).toBe('m ts=1700000000000,v=1 1700000000000');
  });
});

describe('line protocol per version', () => {
  it('doubles backslashes for InfluxDB 3 only, where they are escapes', () => {
    expect(escapeName('C:\\x y', 'tag value', 'go')).toBe('C:\\x\\ y');
    expect(escapeName('C:\\x y', 'tag value', 'rust')).toBe('C:\\\\x\\ y');
    expect(escapeName('a,b c=d', 'measurement', 'go')).toBe('a\\,b\\ c=d');
    expect(escapeName('a,b c=d', 'field key', 'go')).toBe('a\\,b\\ c\\=d');
    expect(quoteString('say "hi" \\o/')).toBe('"say \\"hi\\" \\\\o/"');
  });

  it('refuses a name that appears twice once the payload is flattened', () => {
    expect(() => mapper({}).map(msg({ 'a.b': 1, a: { b: 2 } }))).toThrow(/field "a.b" appears twice/);
  });
});

describe('config', () => {
  const parse = (c: Record<string, unknown>) =>
    influxdbSinkConfig.safeParse({ url: 'http://h:8086', database: 'd', measurement: 'm', ...c });
  const messages = (c: Record<string, unknown>): string[] => {
    const r = parse(c);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('needs only url, database and measurement, with sensible defaults', () => {
    const r = parse({});
    expect(r.success).toBe(true);
    expect(r.data).toMatchObject({
      maxPointsPerRequest: 5000,
      timeout: 30_000,
      tags: {},
      createDatabase: false,
    });
    expect(r.data?.fields).toBeUndefined();
  });

  it('refuses unknown keys, credentials in the URL, tls without https and bad expressions', () => {
    expect(messages({ databse: 'x' }).join()).toMatch(/databse/);
    expect(messages({ url: 'http://u:p@h:8086' }).join()).toMatch(/without user name or password/);
    expect(messages({ url: 'udp://h:8089' }).join()).toMatch(/http:\/\/ or https:\/\//);
    expect(messages({ tls: { ca: '/ca.pem' } }).join()).toMatch(/tls: tls is set but the url is not https/);
    expect(messages({ tags: { d: 'plant-1' } }).join()).toMatch(/tags.d: .*unknown name "plant-1"/);
    expect(messages({ fields: { v: 'double' } }).join()).toMatch(/fields.v/);
    expect(messages({ fields: { time: 'float' } }).join()).toMatch(/"time" can not be a field name/);
    expect(messages({ tags: { v: 'payload.v' }, fields: { v: 'float' } }).join()).toMatch(
      /both a tag and a field/,
    );
    expect(messages({ password: 'x' }).join()).toMatch(/username: password is set without username/);
    expect(messages({ measurement: '{{ nope }}' }).join()).toMatch(/unknown name "nope"/);
  });
});
