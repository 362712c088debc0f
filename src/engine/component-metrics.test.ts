import { Counter, Gauge, Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { componentMetrics } from './component-metrics.js';

const valueOf = async (registry: Registry, name: string, labels: Record<string, string>) => {
  const metric = registry.getSingleMetric(name)!;
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
};

afterEach(() => vi.restoreAllMocks());

describe('component metrics', () => {
  it('exports what components set, with the pipeline and component labels, at scrape time', async () => {
    const registry = new Registry();
    const m = componentMetrics(registry, 'p', 'source');
    const last = m.gauge('passerelle_test_last', 'last', ['device']);
    const count = m.counter('passerelle_test_events', 'events', ['device']);
    last.set({ device: 'a' }, 5);
    last.set({ device: 'a' }, 7);
    last.inc({ device: 'b' }, 2);
    count.inc({ device: 'a' });
    count.inc({ device: 'a' }, 4);
    expect(
      await valueOf(registry, 'passerelle_test_last', { device: 'a', pipeline: 'p', component: 'source' }),
    ).toBe(7);
    expect(await valueOf(registry, 'passerelle_test_last', { device: 'b' })).toBe(2);
    expect(await valueOf(registry, 'passerelle_test_events', { device: 'a' })).toBe(5);
    count.inc({ device: 'a' }, 2);
    expect(await valueOf(registry, 'passerelle_test_events', { device: 'a' })).toBe(7);
    last.remove({ device: 'a' });
    expect(await valueOf(registry, 'passerelle_test_last', { device: 'a' })).toBeUndefined();
    last.set({ device: 'a' }, 1);
    expect(await valueOf(registry, 'passerelle_test_last', { device: 'a' })).toBe(1);
    expect(() => count.inc(undefined, -1)).toThrow(/can not decrease/);
  });

  it('two components share a metric and keep their own series', async () => {
    const registry = new Registry();
    componentMetrics(registry, 'p1', 'source').gauge('passerelle_test_g', 'g').set(undefined, 1);
    componentMetrics(registry, 'p2', 'source').gauge('passerelle_test_g', 'g').set(undefined, 2);
    expect(await valueOf(registry, 'passerelle_test_g', { pipeline: 'p1' })).toBe(1);
    expect(await valueOf(registry, 'passerelle_test_g', { pipeline: 'p2' })).toBe(2);
  });

  it('an update costs no prom-client call (no label copy, check and hash): the values go over once per scrape', async () => {
    const registry = new Registry();
    const m = componentMetrics(registry, 'p', 'source');
    const gauge = m.gauge('passerelle_test_rssi', 'rssi', ['devEui']);
    const counter = m.counter('passerelle_test_up', 'up', ['devEui']);
    const set = vi.spyOn(registry.getSingleMetric('passerelle_test_rssi') as Gauge, 'set');
    const inc = vi.spyOn(registry.getSingleMetric('passerelle_test_up') as Counter, 'inc');
    for (let i = 0; i < 10_000; i++) {
      gauge.set({ devEui: `d${i % 10}` }, i);
      counter.inc({ devEui: `d${i % 10}` });
    }
    expect(set).not.toHaveBeenCalled();
    expect(inc).not.toHaveBeenCalled();
    await registry.metrics();
    expect(set).toHaveBeenCalledTimes(10);
    expect(inc).toHaveBeenCalledTimes(10);
    expect(await valueOf(registry, 'passerelle_test_up', { devEui: 'd3' })).toBe(1000);
    expect(await valueOf(registry, 'passerelle_test_rssi', { devEui: 'd3' })).toBe(9993);
  });
});
