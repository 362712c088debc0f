import { describe, expect, it } from 'vitest';
import { createMessage, createReceptionClock } from '../../src/sdk/index.js';
import { PointError, PointMapper, messageTime } from './point.js';
import { influxdbSinkConfig, writePrecision } from './spec.js';

const config = (extra: Record<string, unknown> = {}) =>
  influxdbSinkConfig.parse({ url: 'http://h:8086', database: 'd', measurement: 'm', ...extra });
const timeOf = (line: string): string => line.split(' ').at(-1)!;

describe('the point time of the message time', () => {
  it('is written in microseconds by default, and in milliseconds when the time comes from `timestamp`', () => {
    expect(writePrecision(config())).toBe('us');
    expect(writePrecision(config({ timestamp: 'payload.ts' }))).toBe('ms');
    expect(writePrecision(config({ precision: 'ns' }))).toBe('ns');
    expect(writePrecision(config({ timestamp: 'payload.ts', precision: 's' }))).toBe('s');
    const mapper = new PointMapper(config(), 'p');
    const line = mapper.map(createMessage({ id: 'a', payload: { v: 1 }, time: 1_700_000_000_123.456 })).line;
    expect(timeOf(line)).toBe('1700000000123456');
  });

  it('converts every microsecond exactly, in every precision', () => {
    const wrong: string[] = [];
    for (let k = 0; k < 200_000; k++) {
      const us = 1_700_000_000_123_000 + k * 7;
      const time = us / 1000;
      const expected = {
        s: String(Math.floor(us / 1e6)),
        ms: String(Math.floor(us / 1e3)),
        us: String(us),
        ns: `${us}000`,
      };
      for (const p of ['s', 'ms', 'us', 'ns'] as const)
        if (messageTime(time, p) !== expected[p]) wrong.push(`${time} ${p}: ${messageTime(time, p)}`);
      if (wrong.length > 5) break;
    }
    expect(wrong).toEqual([]);
    // Scaling the float would give 1700000000123055900 here.
    expect(messageTime(1_700_000_000_123.056, 'ns')).toBe('1700000000123056000');
    expect(messageTime(1_700_000_000_123, 'us')).toBe('1700000000123000');
    expect(messageTime(-1.5, 'us')).toBe('-1500');
    expect(messageTime(0, 'ns')).toBe('0');
    expect(() => messageTime(Number.NaN, 'us')).toThrow(PointError);
    expect(() => messageTime(1e300, 'us')).toThrow(/out of range/);
  });

  it('gives messages stamped in the same millisecond distinct point times', () => {
    const clock = createReceptionClock({
      wallClock: () => 1_700_000_000_000,
      monotonic: () => 0.5,
      origin: 1_700_000_000_000,
    });
    const mapper = new PointMapper(config(), 'p');
    const times = new Set<string>();
    for (let i = 0; i < 1000; i++)
      times.add(timeOf(mapper.map(createMessage({ id: `m${i}`, payload: { v: i }, time: clock() })).line));
    expect(times.size).toBe(1000);
  });
});
