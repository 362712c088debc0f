import { describe, expect, it } from 'vitest';
import { httpDate, isoTimestamp } from './utc-time.js';

// Dates around the edges of each field: epoch, leap days, end of year, milliseconds 0 and 999,
// years below 1000 (zero-padded) and the largest four-digit year.
const INSTANTS = [
  0,
  1,
  999,
  Date.UTC(2024, 1, 29, 23, 59, 59, 999),
  Date.UTC(2026, 11, 31, 23, 59, 59, 5),
  Date.UTC(2000, 0, 1),
  Date.UTC(1969, 11, 31, 23, 59, 59, 999),
  new Date('0042-07-04T03:02:01.010Z').getTime(),
  new Date('9999-12-31T23:59:59.999Z').getTime(),
  Date.now(),
];

describe('UTC time formats without the local time zone', () => {
  it('isoTimestamp is Date#toISOString, and falls back to it outside years 0-9999', () => {
    for (const ms of [
      ...INSTANTS,
      new Date('+010000-01-01T00:00:00Z').getTime(),
      new Date('-000001-06-01T00:00:00Z').getTime(),
    ])
      expect(isoTimestamp(ms)).toBe(new Date(ms).toISOString());
    for (let ms = Date.UTC(2025, 0, 1); ms < Date.UTC(2029, 0, 1); ms += 86_399_937)
      expect(isoTimestamp(ms)).toBe(new Date(ms).toISOString());
  });

  it('httpDate is Date#toUTCString (the HTTP Date header)', () => {
    for (const ms of INSTANTS) expect(httpDate(ms)).toBe(new Date(ms).toUTCString());
    for (let ms = Date.UTC(2025, 0, 1); ms < Date.UTC(2029, 0, 1); ms += 86_399_937)
      expect(httpDate(ms)).toBe(new Date(ms).toUTCString());
  });
});
