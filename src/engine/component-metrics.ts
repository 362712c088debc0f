import { Counter, Gauge, type Registry } from './prom-client.js';
import type { ComponentCounter, ComponentGauge, ComponentMetrics } from '../sdk/index.js';

/** One labelled series as components update it: its labels built once, its value a plain number. */
interface Series {
  labels: Record<string, string>;
  value: number;
  /** Counters: the increase not yet handed to prom-client. Gauges: whether `value` changed. */
  pending: number;
  dirty: boolean;
}

/**
 * The series of each metric this module created, per component handle. Components update their
 * series (a map lookup and a number, no allocation once the series exists); prom-client gets the
 * values when /metrics is scraped, through the metric's `collect`. prom-client's own `set(labels)`
 * would copy, validate and hash the labels on every update: thousands of devices at 1 Hz.
 */
const seriesOf = new WeakMap<Counter | Gauge, Set<Map<string, Series>>>();
/** Metrics created here, with the `collect` that flushes their series (another one is updated directly). */
const ours = new WeakSet<Counter | Gauge>();

function flush(metric: Counter | Gauge): void {
  for (const handle of seriesOf.get(metric) ?? [])
    for (const s of handle.values()) {
      if (metric instanceof Counter) {
        if (s.pending > 0) metric.inc(s.labels, s.pending);
        s.pending = 0;
      } else if (s.dirty) {
        metric.set(s.labels, s.value);
        s.dirty = false;
      }
    }
}

/**
 * Component metrics on the service's registry. Every metric carries the `pipeline` and `component`
 * labels; the same name declared again (another pipeline or component) returns the same metric, so
 * its help and label names must match. Each handle caches its labelled series (see `seriesOf`).
 */
export function componentMetrics(registry: Registry, pipeline: string, component: string): ComponentMetrics {
  const base = { pipeline, component };
  const existing = (name: string, kind: 'counter' | 'gauge', labelNames: string[]): unknown => {
    const metric = registry.getSingleMetric(name) as (Counter | Gauge) | undefined;
    if (!metric) return undefined;
    const isKind = kind === 'counter' ? metric instanceof Counter : metric instanceof Gauge;
    if (!isKind) throw new Error(`metric ${name} is already declared as another kind`);
    const declared = (metric as unknown as { labelNames: string[] }).labelNames;
    const wanted = ['pipeline', 'component', ...labelNames];
    if (declared.join(',') !== wanted.join(','))
      throw new Error(`metric ${name} is already declared with labels ${declared.join(', ')}`);
    return metric;
  };
  const check = (name: string): void => {
    if (!/^passerelle_[a-z0-9_]+$/.test(name))
      throw new Error(`metric name ${name} must match passerelle_[a-z0-9_]+`);
  };
  /** This handle's series of `metric`, found by label values (one label: its value is the key). */
  const seriesFor = (metric: Counter | Gauge, labelNames: string[]) => {
    const handle = new Map<string, Series>();
    let handles = seriesOf.get(metric);
    if (!handles) seriesOf.set(metric, (handles = new Set()));
    handles.add(handle);
    const keyOf = (labels: Record<string, string> | undefined): string =>
      labelNames.length === 0
        ? ''
        : labelNames.length === 1
          ? String(labels?.[labelNames[0]!] ?? '')
          : labelNames.map((n) => String(labels?.[n] ?? '')).join('\u0000');
    return {
      get(labels: Record<string, string> | undefined): Series {
        const key = keyOf(labels);
        let s = handle.get(key);
        if (!s) {
          s = { labels: { ...labels, ...base }, value: 0, pending: 0, dirty: false };
          handle.set(key, s);
        }
        return s;
      },
      remove(labels: Record<string, string>): void {
        handle.delete(keyOf(labels));
        metric.remove({ ...labels, ...base });
      },
    };
  };
  return {
    counter(name, help, labelNames = []): ComponentCounter {
      check(name);
      let counter = existing(name, 'counter', labelNames) as Counter<string> | undefined;
      if (!counter) {
        counter = new Counter({
          name,
          help,
          labelNames: ['pipeline', 'component', ...labelNames],
          registers: [registry],
          collect() {
            flush(this as Counter);
          },
        });
        ours.add(counter);
      }
      const direct = counter;
      if (!ours.has(counter))
        return { inc: (labels, value = 1) => direct.inc({ ...labels, ...base }, value) };
      const series = seriesFor(counter, labelNames);
      return {
        inc: (labels, value = 1) => {
          if (!(value >= 0)) throw new Error(`metric ${name}: a counter can not decrease (${value})`);
          series.get(labels).pending += value;
        },
      };
    },
    gauge(name, help, labelNames = []): ComponentGauge {
      check(name);
      let gauge = existing(name, 'gauge', labelNames) as Gauge<string> | undefined;
      if (!gauge) {
        gauge = new Gauge({
          name,
          help,
          labelNames: ['pipeline', 'component', ...labelNames],
          registers: [registry],
          collect() {
            flush(this as Gauge);
          },
        });
        ours.add(gauge);
      }
      const direct = gauge;
      if (!ours.has(gauge))
        return {
          set: (labels, value) => direct.set({ ...labels, ...base }, value),
          inc: (labels, value = 1) => direct.inc({ ...labels, ...base }, value),
          remove: (labels) => direct.remove({ ...labels, ...base }),
        };
      const series = seriesFor(gauge, labelNames);
      return {
        set: (labels, value) => {
          const s = series.get(labels);
          s.value = value;
          s.dirty = true;
        },
        inc: (labels, value = 1) => {
          const s = series.get(labels);
          s.value += value;
          s.dirty = true;
        },
        remove: (labels) => series.remove(labels),
      };
    },
  };
}
