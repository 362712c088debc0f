import * as entry from 'prom-client';
import { describe, expect, it } from 'vitest';
import * as own from './prom-client.js';

describe("prom-client's classes from their own modules", () => {
  it("are the entry point's, so that metrics registered either way share a registry", () => {
    expect(own.Registry).toBe(entry.Registry);
    expect(own.Counter).toBe(entry.Counter);
    expect(own.Gauge).toBe(entry.Gauge);
    expect(own.Histogram).toBe(entry.Histogram);
    expect(own.collectDefaultMetrics).toBe(entry.collectDefaultMetrics);
  });
});
