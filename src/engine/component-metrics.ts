import { Counter, Gauge, type Registry } from 'prom-client';
import type { ComponentCounter, ComponentGauge, ComponentMetrics } from '../sdk/index.js';

/**
 * Component metrics on the service's registry. Every metric carries the `pipeline` and `component`
 * labels; the same name declared again (another pipeline or component) returns the same metric, so
 * its help and label names must match.
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
  return {
    counter(name, help, labelNames = []): ComponentCounter {
      check(name);
      const counter =
        (existing(name, 'counter', labelNames) as Counter<string> | undefined) ??
        new Counter({
          name,
          help,
          labelNames: ['pipeline', 'component', ...labelNames],
          registers: [registry],
        });
      return { inc: (labels, value = 1) => counter.inc({ ...labels, ...base }, value) };
    },
    gauge(name, help, labelNames = []): ComponentGauge {
      check(name);
      const gauge =
        (existing(name, 'gauge', labelNames) as Gauge<string> | undefined) ??
        new Gauge({
          name,
          help,
          labelNames: ['pipeline', 'component', ...labelNames],
          registers: [registry],
        });
      return {
        set: (labels, value) => gauge.set({ ...labels, ...base }, value),
        inc: (labels, value = 1) => gauge.inc({ ...labels, ...base }, value),
        remove: (labels) => gauge.remove({ ...labels, ...base }),
      };
    },
  };
}
