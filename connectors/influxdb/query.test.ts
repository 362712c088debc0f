import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { measureBlocking, BLOCK_LIMIT_MS } from '../../test/harness/event-loop.js';
import { MalformedAnswerError, QueryAnswerError, QueryDecoder, jsonNumber, type QueryRow } from './query.js';
import { compileQueryTemplate, msToNs, nsToRfc3339 } from './query-template.js';
import { influxdbSourceConfig } from './source-spec.js';

const window = { start: Date.UTC(2026, 11, 4, 5), end: Date.UTC(2026, 11, 5, 5) };

describe('influxdb source query template', () => {
  it('renders the window as InfluxQL time literals', () => {
    const t = compileQueryTemplate(
      'a {{ window.start }} b {{window.end}} c {{ window.start:ns }} {{ window.end:ms }} {{ window.start:s }} {{ window.end:rfc3339 }} {{ window.duration }}',
    );
    expect(t.render(window)).toBe(
      "a '2026-12-04T05:00:00Z' b '2026-12-05T05:00:00Z' c 1796360400000000000 1796446800000ms 1796360400s 2026-12-05T05:00:00Z 86400000ms",
    );
    expect(t.usesWindow).toBe(true);
    // Fractions of a millisecond are kept (to the nanosecond).
    expect(
      compileQueryTemplate('{{ window.start }} {{ window.start:ms }}').render({ start: 1.5, end: 2 }),
    ).toBe("'1970-01-01T00:00:00.0015Z' 1500u");
  });

  it('refuses unknown names and formats, and unbalanced braces, at validation', () => {
    for (const [query, message] of [
      ['SELECT * FROM m WHERE time > {{ payload.x }}', /payload\.x }}: unknown name/],
      ['SELECT {{ window.start:YYYY }}', /unknown format "YYYY"/],
      ['SELECT {{ window.start:ns:x }}', /unknown name/],
      ['SELECT {{ window.start', /unbalanced/],
      ['SELECT }} {{ window.end }}', /unbalanced/],
    ] as const) {
      const result = influxdbSourceConfig.safeParse({ url: 'http://h:8086', database: 'd', query });
      expect(result.success, query).toBe(false);
      expect(result.error?.issues[0]?.message, query).toMatch(message);
      expect(result.error?.issues[0]?.path, query).toEqual(['query']);
    }
  });

  it('converts times exactly', () => {
    expect(msToNs(1733390000123.456)).toBe(1733390000123456000n);
    expect(msToNs(-0.5)).toBe(-500000n);
    expect(nsToRfc3339(1733390000123456789n)).toBe('2024-12-05T09:13:20.123456789Z');
    expect(nsToRfc3339(1733390000000000000n)).toBe('2024-12-05T09:13:20Z');
    expect(nsToRfc3339(-1n)).toBe('1969-12-31T23:59:59.999999999Z');
  });

  it('refuses a password without user, or a token with a user', () => {
    const base = { url: 'http://h:8086', database: 'd', query: 'SELECT 1' };
    expect(influxdbSourceConfig.safeParse({ ...base, password: 'p' }).success).toBe(false);
    expect(influxdbSourceConfig.safeParse({ ...base, username: 'u', token: 't' }).success).toBe(false);
    expect(influxdbSourceConfig.safeParse({ ...base, tls: { ca: '/x' } }).success).toBe(false);
  });
});

/** What InfluxDB 1.x sends for one series cut into chunks of `chunkSize` rows. */
function chunkedAnswer(
  series: { name: string; tags: Record<string, string>; columns: string[]; rows: string[][] }[],
  chunkSize: number,
): string {
  const lines: string[] = [];
  for (const s of series) {
    for (let i = 0; i < Math.max(1, s.rows.length); i += chunkSize) {
      const rows = s.rows.slice(i, i + chunkSize);
      const partial = i + chunkSize < s.rows.length;
      lines.push(
        `{"results":[{"statement_id":0,"series":[{"name":${JSON.stringify(s.name)},"tags":${JSON.stringify(s.tags)},"columns":${JSON.stringify(s.columns)},"values":[${rows.map((r) => `[${r.join(',')}]`).join(',')}]${partial ? ',"partial":true' : ''}}]${partial ? ',"partial":true' : ''}}]}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

function decode(text: string, pieces: number[]): QueryRow[] {
  const rows: QueryRow[] = [];
  const d = new QueryDecoder((r) => rows.push(r));
  let at = 0;
  for (const p of pieces) {
    d.write(text.slice(at, at + p));
    at += p;
  }
  d.write(text.slice(at));
  d.end();
  return rows;
}

const hostile = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.constantFrom(
    'NaN',
    'Infinity',
    '-0',
    '1e309',
    '"',
    '\\',
    '\n',
    '\u2028',
    '{{ window.start }}',
    '\uD800',
  ),
);
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });

describe('influxdb source answer decoding', () => {
  it('decodes any chunked answer, cut anywhere, to exact rows', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            name: hostile,
            tags: fc.dictionary(fc.string({ minLength: 1 }), hostile, { maxKeys: 3 }),
            rows: fc.array(
              fc.tuple(
                int64,
                int64,
                hostile,
                fc.double({ noNaN: true, noDefaultInfinity: true }),
                fc.boolean(),
              ),
              {
                maxLength: 12,
              },
            ),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 30 }),
        (series, chunkSize, pieces) => {
          const text = chunkedAnswer(
            series.map((s) => ({
              name: s.name,
              tags: s.tags,
              columns: ['time', 'i', 's', 'f', 'b'],
              rows: s.rows.map(([t, i, str, f, b]) => [
                String(t),
                String(i),
                JSON.stringify(str),
                JSON.stringify(f),
                String(b),
              ]),
            })),
            chunkSize,
          );
          const rows = decode(text, pieces);
          const expected = series.flatMap((s) =>
            s.rows.map(([t, i, str, f, b], index) => ({
              measurement: s.name,
              tags: s.tags,
              index,
              timeNs: t,
              fields: { i: jsonNumber(String(i)), s: str, b },
              f,
            })),
          );
          expect(
            rows.map(({ measurement, tags, index, timeNs, fields: { f: _, ...fields } }) => ({
              measurement,
              tags,
              index,
              timeNs,
              fields,
            })),
          ).toEqual(expected.map(({ f: _, ...e }) => e));
          // A float is a number, or (integer text past 2^53) the text that reads back as it.
          rows.forEach((r, k) => expect(Number(r.fields.f) === expected[k]!.f).toBe(true));
          // Rows of different series never share an id; rows of a series cut in chunks count on.
          const ids = rows.map((r) => `${r.seriesKey}/${r.index}`);
          const sameSeriesTwice =
            new Set(series.map((s) => JSON.stringify([s.name, s.tags]))).size < series.length;
          if (!sameSeriesTwice) expect(new Set(ids).size).toBe(ids.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps integers exact: numbers while safe, decimal text beyond', () => {
    expect(jsonNumber('9007199254740991')).toBe(9007199254740991);
    expect(jsonNumber('9007199254740993')).toBe('9007199254740993');
    expect(jsonNumber('-9223372036854775808')).toBe('-9223372036854775808');
    expect(jsonNumber('0.30000000000000004')).toBe(0.30000000000000004);
    expect(jsonNumber('1e+300')).toBe(1e300);
  });

  it('reports statement errors, query errors and broken answers', () => {
    expect(() => decode('{"results":[{"statement_id":1,"error":"database not found: x"}]}\n', [])).toThrow(
      expect.objectContaining({
        name: 'QueryAnswerError',
        statement: 1,
        message: 'database not found: x',
      }) as Error,
    );
    expect(() => decode('{"error":"timeout"}', [])).toThrow(QueryAnswerError);
    expect(() => decode('<html>bad gateway</html>', [])).toThrow(MalformedAnswerError);
    expect(() =>
      decode('{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time"],"values":[[1', []),
    ).toThrow(MalformedAnswerError);
    expect(() => decode('', [])).toThrow(/empty/);
    expect(() =>
      decode('{"results":[{"series":[{"name":"m","columns":["time","v"],"values":[[1]]}]}]}', []),
    ).toThrow(/1 values for 2 columns/);
    expect(() =>
      decode('{"results":[{"series":[{"name":"m","columns":["time"],"values":[["x"]]}]}]}', []),
    ).toThrow(/not a nanosecond epoch/);
    expect(() => decode(`${'['.repeat(100)}`, [])).toThrow(MalformedAnswerError);
  });

  it('never holds the event loop for long, whatever the answer holds', async () => {
    // Large hostile answers decoded the way the reader does: 16 KiB of text per turn.
    const huge = 'x"\\\n\u2028é'.repeat(200_000);
    const answers = [
      chunkedAnswer(
        [{ name: 'm', tags: { t: huge }, columns: ['time', 's'], rows: [['1', JSON.stringify(huge)]] }],
        1,
      ),
      chunkedAnswer(
        [
          {
            name: 'm',
            tags: {},
            columns: ['time', 'a', 'b', 'c'],
            rows: Array.from({ length: 60_000 }, (_, i) => [
              `${1733390000000000000n + BigInt(i)}`,
              '9223372036854775807',
              `${i}.5e3`,
              '"NaN"',
            ]),
          },
        ],
        10_000,
      ),
    ];
    for (const text of answers) {
      let rows = 0;
      const d = new QueryDecoder(() => rows++);
      const result = await measureBlocking(async () => {
        for (let at = 0; at < text.length; at += 16 * 1024) {
          d.write(text.slice(at, at + 16 * 1024));
          await new Promise((r) => setImmediate(r));
        }
        d.end();
      });
      expect(result.error).toBeUndefined();
      expect(rows).toBeGreaterThan(0);
      expect(result.blockedMs).toBeLessThan(BLOCK_LIMIT_MS);
    }
  });
});
