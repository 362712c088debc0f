/**
 * deploy/grafana: the dashboard is what scripts/grafana-dashboard.js writes, every query names a
 * metric passerelle exports, and the alert rules pass `promtool check rules` and their unit tests.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineMetrics } from '../src/engine/metrics.js';
import { ScheduleMetrics } from '../src/engine/schedule/metrics.js';

const root = new URL('../', import.meta.url).pathname;
const grafana = join(root, 'deploy/grafana');
const tmp = mkdtempSync(join(tmpdir(), 'passerelle-grafana-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Metric names the engine and the process export, plus those declared by components in the source. */
function exportedMetrics(): Set<string> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new EngineMetrics(registry);
  const names = new Set(registry.getMetricsAsArray().map((m) => m.name));
  for (const name of [...names]) for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (entry.endsWith('.ts') && !entry.endsWith('.test.ts'))
        for (const m of readFileSync(path, 'utf8').matchAll(/['"`](passerelle_[a-z0-9_]+)['"`]/g))
          names.add(m[1]!);
    }
  };
  walk(join(root, 'src'));
  walk(join(root, 'connectors'));
  return names;
}

const referenced = (exprs: string[]): string[] => [
  ...new Set(exprs.flatMap((e) => [...e.matchAll(/\b(passerelle_[a-z0-9_]+)/g)].map((m) => m[1]!))),
];

describe('Grafana dashboard and Prometheus alerts', () => {
  it('the committed dashboard is up to date with scripts/grafana-dashboard.js', () => {
    const out = join(tmp, 'dashboard.json');
    execFileSync(process.execPath, [join(root, 'scripts/grafana-dashboard.js'), out]);
    expect(readFileSync(join(grafana, 'passerelle-dashboard.json'), 'utf8')).toBe(readFileSync(out, 'utf8'));
  });

  it('every query of the dashboard and of the alerts names a metric that passerelle exports', () => {
    const dashboard = JSON.parse(readFileSync(join(grafana, 'passerelle-dashboard.json'), 'utf8')) as {
      panels: { targets?: { expr: string }[] }[];
    };
    const alerts = parseYaml(readFileSync(join(grafana, 'alerts.yaml'), 'utf8')) as {
      groups: { rules: { expr: string }[] }[];
    };
    const exprs = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
      ...alerts.groups.flatMap((g) => g.rules.map((r) => r.expr)),
    ];
    const known = exportedMetrics();
    const names = referenced(exprs);
    expect(names.length).toBeGreaterThan(10);
    expect(names.filter((n) => !known.has(n))).toEqual([]);
  });

  it('docs/operations.md names every metric passerelle exports, with the standard process names', () => {
    const docs = readFileSync(join(root, 'docs/operations.md'), 'utf8');
    const ours = [...exportedMetrics()].filter(
      (n) => n.startsWith('passerelle_') && !/_(bucket|sum|count)$/.test(n),
    );
    expect(ours.length).toBeGreaterThan(40);
    expect(ours.filter((n) => !docs.includes(`\`${n}\``))).toEqual([]);
    // prom-client's defaults keep their own names: stock Node.js dashboards query these.
    const known = exportedMetrics();
    for (const name of [
      'process_cpu_seconds_total',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_p99_seconds',
    ])
      expect(known.has(name), name).toBe(true);
  });

  it('the alert rules are valid and behave as their unit tests expect (promtool)', () => {
    const check = spawnSync('promtool', ['check', 'rules', 'alerts.yaml'], {
      cwd: grafana,
      encoding: 'utf8',
    });
    expect(check.error, 'promtool is missing: apt-get install prometheus (.ci/run does)').toBeUndefined();
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const test = spawnSync('promtool', ['test', 'rules', 'alerts.test.yaml'], {
      cwd: grafana,
      encoding: 'utf8',
    });
    expect(test.status, test.stdout + test.stderr).toBe(0);
  });

  it('the /metrics exposition passes promtool check metrics', async () => {
    const registry = new Registry();
    const metrics = new EngineMetrics(registry);
    metrics.received.inc({ pipeline: 'p' }, 3);
    metrics.deliveryLatency.observe({ pipeline: 'p', sink: 'sinks[0]' }, 0.01);
    const schedule = new ScheduleMetrics(registry);
    schedule.runs.inc({ pipeline: 'p', outcome: 'completed' });
    schedule.duration.observe({ pipeline: 'p' }, 2);
    schedule.lastSuccess.set({ pipeline: 'p' }, 1_796_468_400);
    const check = spawnSync('promtool', ['check', 'metrics'], {
      input: await registry.metrics(),
      encoding: 'utf8',
    });
    expect(check.status, check.stdout + check.stderr).toBe(0);
  });
});
