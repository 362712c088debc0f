import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchError, FatalError, createMessage, type Message } from '../../src/sdk/index.js';
import { createFakeContext, type FakeContext } from '../../test/conformance/context.js';
import { startInfluxDB, type InfluxDBHandle } from '../../test/harness/influxdb.js';
import { influxdbSink } from './index.js';
import type { InfluxdbSink } from './sink.js';
import { influxdbSinkConfig } from './spec.js';

/*
 * Line protocol against the real InfluxDB 1.x: every text a message can carry into a measurement
 * name, tag key, tag value, field key or string value is either stored exactly as it was, or the
 * message is dead-lettered with the reason. Read back with InfluxQL over /query.
 */

let influx: InfluxDBHandle;
const DB = 'escaping';

beforeAll(async () => {
  influx = await startInfluxDB();
  await influx.query(`CREATE DATABASE ${DB}`);
});

const sinks: InfluxdbSink[] = [];
afterAll(async () => {
  for (const s of sinks) await s.close();
  await influx?.dispose();
});

const signal = (): AbortSignal => AbortSignal.timeout(15_000);

/** An InfluxQL identifier in double quotes: backslash, double quote and line break escaped. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

async function written(ctx: FakeContext): Promise<number> {
  const values = (await ctx.registry.getSingleMetric('passerelle_influxdb_points_written_total')?.get())
    ?.values;
  return (values ?? []).reduce((sum, v) => sum + v.value, 0);
}

/**
 * The measurement in a FROM clause. InfluxQL's scanner reads a NUL character as the end of the
 * statement, so a name with one is matched by a regular expression of its code points instead.
 */
function from(measurement: string): string {
  if (!measurement.includes('\0')) return quoteIdentifier(measurement);
  const hex = [...measurement].map((c) => `\\x{${c.codePointAt(0)!.toString(16)}}`).join('');
  return `/^${hex}$/`;
}

/** Rows of one measurement between two times (ms), with their tags. */
async function rows(measurement: string, start: number, end: number): Promise<Record<string, unknown>[]> {
  const res = await influx.query(
    `SELECT * FROM ${from(measurement)} WHERE time >= ${start}ms AND time <= ${end}ms GROUP BY *`,
    DB,
  );
  return (res.results[0]?.series ?? []).flatMap((s) => {
    expect(s.name).toBe(measurement);
    return s.values.map((row) => ({
      ...Object.fromEntries(Object.entries(s.tags ?? {}).map(([k, v]) => [`tag:${k}`, v])),
      ...Object.fromEntries(s.columns.map((c, i) => [c, row[i]])),
    }));
  });
}

interface Sample {
  m: string;
  tv: string;
  s: string;
}

interface Outcome {
  failures: Map<number, string>;
  stored: Map<number, Record<string, unknown>>;
}

let clock = Date.now() - 3_600_000;

/** Writes the samples through a sink with tag key `tk` and string field `fk`; reads back what is stored. */
async function roundTrip(
  tk: string,
  fk: string,
  samples: Sample[],
): Promise<{ outcome: Outcome; ctx: FakeContext } | string> {
  const parsed = influxdbSinkConfig.safeParse({
    url: influx.url,
    database: DB,
    measurement: '{{ payload.m }}',
    tags: { [tk]: 'payload.tv' },
    fields: { [fk]: { from: 'payload.s', type: 'string' }, n: { from: 'payload.n', type: 'integer' } },
  });
  if (!parsed.success) return parsed.error.issues.map((i) => i.message).join('; ');
  const ctx = createFakeContext();
  const sink = influxdbSink.create(parsed.data, ctx) as InfluxdbSink;
  sinks.push(sink);
  await sink.connect(signal());
  const from = clock + 1;
  const messages: Message[] = samples.map((sample, n) =>
    createMessage({ id: `s${n}`, payload: { ...sample, n }, time: ++clock }),
  );
  const failures = new Map<number, string>();
  try {
    await sink.write(messages, signal());
  } catch (error) {
    if (!(error instanceof BatchError)) throw error;
    for (const f of error.failures) {
      expect(f.error).toBeInstanceOf(FatalError);
      failures.set(f.index, f.error.message);
    }
  }
  await sink.close();
  const stored = new Map<number, Record<string, unknown>>();
  for (const m of new Set(samples.filter((_, i) => !failures.has(i)).map((s) => s.m))) {
    for (const row of await rows(m, from, clock)) {
      const n = row.n as number;
      expect(stored.has(n)).toBe(false);
      stored.set(n, { ...row, measurement: m });
    }
  }
  return { outcome: { failures, stored }, ctx };
}

/** Each sample is stored exactly, or dead-lettered with a reason; never both, never neither. */
function expectEqualOrRefused(tk: string, fk: string, samples: Sample[], outcome: Outcome): void {
  samples.forEach((sample, n) => {
    const failure = outcome.failures.get(n);
    const row = outcome.stored.get(n);
    if (failure !== undefined) {
      expect(failure, `sample ${n} ${JSON.stringify(sample)}`).toMatch(
        /^(not a valid point|InfluxDB refused the point): ./,
      );
      expect(row, `refused sample ${n} is stored`).toBeUndefined();
      return;
    }
    expect(
      row,
      `sample ${n} ${JSON.stringify({ tk, fk, ...sample })} is neither stored nor refused`,
    ).toBeDefined();
    expect({ m: row!.measurement, tv: row![`tag:${tk}`] ?? '', s: row![fk] }).toEqual({
      m: sample.m,
      tv: sample.tv,
      s: sample.s,
    });
  });
}

describe('line protocol on InfluxDB 1.x', () => {
  it('stores names and values with separators, quotes, "#", backslashes and Unicode exactly as sent', async () => {
    const samples: Sample[] = [
      { m: 'plain', tv: 'x', s: 'y' },
      { m: 'with space, comma', tv: 'a b,c=d', s: 'quote " and \\ backslash\\' },
      { m: 'a=b"c\'d', tv: '"quoted"', s: 'two\nlines\r\n' },
      { m: ' leading space', tv: ' ', s: '' },
      { m: 'hash # inside', tv: '#not-a-comment', s: '#' },
      { m: 'back\\slash', tv: 'C:\\data\\x,y', s: '\\' },
      { m: 'é 🍭 名前', tv: 'ü🚀', s: 'Launch 🚀' },
      { m: '_underscore', tv: 'a\\"b', s: '\t' },
      { m: 'empty tag', tv: '', s: 'tag left out' },
    ];
    const result = await roundTrip('the tag, "key"=1', 'the field, "key"=2', samples);
    if (typeof result === 'string') throw new Error(result);
    expect([...result.outcome.failures]).toEqual([]);
    expectEqualOrRefused('the tag, "key"=1', 'the field, "key"=2', samples, result.outcome);
    expect(await written(result.ctx)).toBe(samples.length);
  });

  it('refuses what line protocol cannot carry, with the reason, instead of storing something else', async () => {
    const samples: Sample[] = [
      { m: '#comment', tv: 'x', s: 'a line starting with # is a comment: 204 and nothing stored' },
      { m: 'ends with\\', tv: 'x', s: 'the backslash would escape the comma after it' },
      { m: 'ok', tv: 'ends with\\', s: 'tag value' },
      { m: 'esc\\,aped', tv: 'x', s: 'read back as esc,aped' },
      { m: 'esc\\"aped', tv: 'x', s: 'read back as esc"aped' },
      { m: 'line\nbreak', tv: 'x', s: '' },
      { m: 'ok', tv: 'line\nbreak', s: '' },
      { m: '\tleading tab', tv: 'x', s: 'stripped by InfluxDB' },
      { m: 'ok', tv: 'lone \uD800 surrogate', s: '' },
      { m: 'ok', tv: 'x', s: 'lone \uDC00 surrogate' },
      { m: 'ok', tv: 'x', s: 'stored' },
    ];
    const result = await roundTrip('t', 'f', samples);
    if (typeof result === 'string') throw new Error(result);
    expect([...result.outcome.failures]).toEqual([
      [
        0,
        'not a valid point: measurement "#comment": the measurement starts with "#": InfluxDB reads such a line as a comment and stores nothing',
      ],
      [
        1,
        'not a valid point: measurement "ends with\\\\": the measurement has a backslash at its end or before a comma, space, "=" or \'"\', which InfluxDB 1.x/2.x read as an escape',
      ],
      [
        2,
        'not a valid point: tag "t": value "ends with\\\\": the tag value ends with a backslash, which line protocol cannot carry',
      ],
      [
        3,
        'not a valid point: measurement "esc\\\\,aped": the measurement has a backslash at its end or before a comma, space, "=" or \'"\', which InfluxDB 1.x/2.x read as an escape',
      ],
      [
        4,
        'not a valid point: measurement "esc\\\\\\"aped": the measurement has a backslash at its end or before a comma, space, "=" or \'"\', which InfluxDB 1.x/2.x read as an escape',
      ],
      [
        5,
        'not a valid point: measurement "line\\nbreak": the measurement contains a line break, which line protocol cannot carry',
      ],
      [
        6,
        'not a valid point: tag "t": value "line\\nbreak": the tag value contains a line break, which line protocol cannot carry',
      ],
      [
        7,
        'not a valid point: measurement "\\tleading tab": the measurement starts with a tab or NUL character, which InfluxDB 1.x/2.x strip',
      ],
      [
        8,
        'not a valid point: tag "t": value "lone \\ud800 surrogate": the tag value contains an unpaired UTF-16 surrogate (not valid Unicode text)',
      ],
      [9, 'not a valid point: field "f": it contains an unpaired UTF-16 surrogate (not valid Unicode text)'],
    ]);
    expectEqualOrRefused('t', 'f', samples, result.outcome);
    expect(await written(result.ctx)).toBe(1);
  });

  it('property: random names and values are read back equal or dead-lettered with a reason; written = stored', async () => {
    // Characters line protocol must carry (separators, quotes, "#", Unicode) and ones it cannot
    // (line breaks, unpaired surrogates) or only in places (backslash, tab, NUL).
    const carried = fc.constantFrom('#', ',', ' ', '=', '"', "'", '_', 'é', '🍭', 'a', 'Z', '0', '\\');
    const hostile = fc.constantFrom('#', '\\', ',', ' ', '=', '"', '\n', '\r', '\t', '\0', '\uD800', 'a');
    const text = fc.oneof(
      { weight: 5, arbitrary: fc.string({ unit: carried, maxLength: 6 }) },
      { weight: 2, arbitrary: fc.string({ unit: hostile, maxLength: 4 }) },
      { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 4 }) },
    );
    const nonEmpty = text.filter((s) => s !== '');
    let cases = 0;
    let messages = 0;
    let refusedMessages = 0;
    let refusedConfigs = 0;
    let totalWritten = 0;
    const before = await countStored();
    await fc.assert(
      fc.asyncProperty(
        nonEmpty,
        nonEmpty,
        fc.array(fc.record({ m: nonEmpty, tv: text, s: text }), { minLength: 1, maxLength: 12 }),
        async (tk, fk, samples) => {
          fc.pre(tk !== fk && tk !== 'n' && fk !== 'n');
          cases++;
          const result = await roundTrip(tk, fk, samples);
          if (typeof result === 'string') {
            // A tag or field name the config refuses, with a readable reason.
            expect(result).toMatch(/./);
            refusedConfigs++;
            return;
          }
          messages += samples.length;
          refusedMessages += result.outcome.failures.size;
          expectEqualOrRefused(tk, fk, samples, result.outcome);
          const count = await written(result.ctx);
          expect(count).toBe(result.outcome.stored.size);
          totalWritten += count;
        },
      ),
      { numRuns: 200, seed: 20261205, endOnFailure: true },
    );
    console.info(
      `line protocol property: ${cases} cases, ${refusedConfigs} configs refused, ${messages} messages, ${messages - refusedMessages} stored, ${refusedMessages} dead-lettered`,
    );
    expect(cases).toBeGreaterThan(150);
    expect(messages - refusedMessages).toBeGreaterThan(400);
    expect(refusedMessages).toBeGreaterThan(50);
    expect(refusedConfigs).toBeLessThan(cases / 3);
    // The sinks' written counters add up to what InfluxDB holds.
    expect((await countStored()) - before).toBe(totalWritten);
  });
});

/** Points in the database, over every measurement. */
async function countStored(): Promise<number> {
  const res = await influx.query('SELECT count(n) FROM /.*/', DB);
  return (res.results[0]?.series ?? []).reduce((sum, s) => sum + Number(s.values[0]?.[1] ?? 0), 0);
}
