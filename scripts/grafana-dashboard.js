#!/usr/bin/env node
// Writes deploy/grafana/passerelle-dashboard.json (Grafana 10+ schema) from the panel list below.
// A script rather than hand-edited JSON: panels stay short to read and review. test/grafana.test.ts
// fails when the committed file differs, or when a query names a metric passerelle does not export.
import { writeFileSync } from 'node:fs';

const ds = { type: 'prometheus', uid: '${datasource}' };
const sel = 'pipeline=~"$pipeline"';

/** A time series panel; `targets` are [expr, legend] pairs. */
function series(title, unit, targets, description, extra = {}) {
  return {
    type: 'timeseries',
    title,
    description,
    datasource: ds,
    fieldConfig: { defaults: { unit, min: 0, custom: { lineWidth: 1, fillOpacity: 10 } }, overrides: [] },
    options: { legend: { displayMode: 'table', placement: 'bottom', calcs: ['lastNotNull', 'max'] } },
    targets: targets.map(([expr, legendFormat], i) => ({
      datasource: ds,
      expr,
      legendFormat,
      refId: String.fromCharCode(65 + i),
    })),
    ...extra,
  };
}

function row(title) {
  return { type: 'row', title, collapsed: false, panels: [] };
}

const panels = [
  row('Flow (received = delivered + filtered + dead-lettered + dropped + in flight)'),
  series(
    'Received',
    'msg/s',
    [
      [
        `sum by (pipeline) (rate(passerelle_messages_received_total{${sel}}[$__rate_interval]))`,
        '{{pipeline}}',
      ],
    ],
    'Messages read from the sources.',
  ),
  series(
    'Delivered',
    'msg/s',
    [
      [
        `sum by (pipeline, sink) (rate(passerelle_messages_delivered_total{${sel}}[$__rate_interval]))`,
        '{{pipeline}} -> {{sink}}',
      ],
    ],
    'Messages written by each sink.',
  ),
  series(
    'Filtered',
    'msg/s',
    [
      [
        `sum by (pipeline, component) (rate(passerelle_messages_filtered_total{${sel}}[$__rate_interval]))`,
        '{{pipeline}} {{component}}',
      ],
    ],
    'Messages removed on purpose by a transform (report by exception, filters).',
  ),
  series(
    'Dead-lettered',
    'msg/s',
    [
      [
        `sum by (pipeline, stage) (rate(passerelle_messages_dead_lettered_total{${sel}}[$__rate_interval]))`,
        '{{pipeline}} at {{stage}}',
      ],
    ],
    'Messages that could not be processed; see the console or `passerelle dlq list`.',
  ),
  series(
    'Dropped',
    'msg/s',
    [
      [
        `sum by (pipeline, component, reason) (rate(passerelle_messages_dropped_total{${sel}}[$__rate_interval]))`,
        '{{pipeline}} {{reason}}',
      ],
    ],
    'Messages dropped by a policy: never silent, always here.',
  ),
  row('Backlog and latency'),
  series(
    'Outbox depth',
    'short',
    [[`sum by (pipeline, sink) (passerelle_outbox_depth{${sel}})`, '{{pipeline}} -> {{sink}}']],
    'Messages stored and waiting for their sink.',
  ),
  series(
    'In flight',
    'short',
    [[`sum by (pipeline, sink) (passerelle_messages_in_flight{${sel}})`, '{{pipeline}} -> {{sink}}']],
    'Received and not yet settled.',
  ),
  series(
    'Delivery latency',
    's',
    [
      [
        `histogram_quantile(0.5, sum by (le, pipeline, sink) (rate(passerelle_delivery_latency_seconds_bucket{${sel}}[$__rate_interval])))`,
        'p50 {{pipeline}} -> {{sink}}',
      ],
      [
        `histogram_quantile(0.99, sum by (le, pipeline, sink) (rate(passerelle_delivery_latency_seconds_bucket{${sel}}[$__rate_interval])))`,
        'p99 {{pipeline}} -> {{sink}}',
      ],
    ],
    'From the message time (receipt, or the source timestamp) to the sink write.',
  ),
  row('Errors and connections'),
  series(
    'Connected',
    'short',
    [[`passerelle_component_connected{${sel}}`, '{{pipeline}} {{component}} ({{type}})']],
    '1 when the source or sink is connected; readiness is false while any is 0.',
    {
      fieldConfig: { defaults: { min: 0, max: 1, custom: { lineWidth: 1, fillOpacity: 30 } }, overrides: [] },
    },
  ),
  series(
    'Reconnects',
    'short',
    [
      [
        `sum by (pipeline, component) (increase(passerelle_reconnects_total{${sel}}[$__rate_interval]))`,
        '{{pipeline}} {{component}}',
      ],
    ],
    'Connections lost by a source or sink.',
  ),
  series(
    'Sink retries and outbox failures',
    'short',
    [
      [
        `sum by (pipeline, sink) (increase(passerelle_sink_retries_total{${sel}}[$__rate_interval]))`,
        'retry {{pipeline}} -> {{sink}}',
      ],
      [
        `sum by (pipeline, sink) (increase(passerelle_outbox_enqueue_failures_total{${sel}}[$__rate_interval]))`,
        'enqueue failed {{pipeline}} -> {{sink}}',
      ],
      [
        `sum by (pipeline) (increase(passerelle_dead_letters_evicted_total{${sel}}[$__rate_interval]))`,
        'evicted dead letters {{pipeline}}',
      ],
    ],
    'Transient write failures (retried), outbox storage failures (Redis), dead letters removed by retention.',
  ),
  row('Process'),
  series(
    'CPU',
    'percentunit',
    [['rate(process_cpu_seconds_total[$__rate_interval])', '{{instance}}']],
    'CPU time per second (1 = one core).',
  ),
  series(
    'Memory',
    'bytes',
    [
      ['process_resident_memory_bytes', 'RSS {{instance}}'],
      ['nodejs_heap_size_used_bytes', 'heap {{instance}}'],
    ],
    'Resident memory and JavaScript heap.',
  ),
  series(
    'Event loop delay',
    's',
    [
      ['nodejs_eventloop_lag_p99_seconds', 'p99 {{instance}}'],
      ['nodejs_eventloop_lag_max_seconds', 'max {{instance}}'],
    ],
    'How long timers and sockets waited for the event loop (per scrape interval). Above 0.1 s, one piece of work held it: acknowledgements, keep-alives and /healthz wait.',
  ),
];

// Lay the panels out on Grafana's 24-column grid: rows full width, three panels per line.
let y = 0;
let x = 0;
let id = 1;
for (const panel of panels) {
  panel.id = id++;
  if (panel.type === 'row') {
    if (x > 0) y += 8;
    panel.gridPos = { h: 1, w: 24, x: 0, y };
    y += 1;
    x = 0;
    continue;
  }
  panel.gridPos = { h: 8, w: 8, x, y };
  x += 8;
  if (x >= 24) {
    x = 0;
    y += 8;
  }
}

const dashboard = {
  __inputs: [{ name: 'datasource', label: 'Prometheus', type: 'datasource', pluginId: 'prometheus' }],
  title: 'passerelle',
  uid: 'passerelle-overview',
  description:
    'Pipelines of passerelle: flow, backlog, errors, connections, process. Alerts: deploy/grafana/alerts.yaml.',
  tags: ['passerelle', 'iot', 'mqtt'],
  timezone: 'browser',
  schemaVersion: 39,
  version: 1,
  refresh: '10s',
  time: { from: 'now-1h', to: 'now' },
  templating: {
    list: [
      { name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus' },
      {
        name: 'pipeline',
        type: 'query',
        label: 'Pipeline',
        datasource: ds,
        query: 'label_values(passerelle_messages_received_total, pipeline)',
        refresh: 2,
        includeAll: true,
        multi: true,
        current: { text: 'All', value: '$__all' },
      },
    ],
  },
  panels,
};

const out = process.argv[2]
  ? new URL(`file://${process.argv[2]}`)
  : new URL('../deploy/grafana/passerelle-dashboard.json', import.meta.url);
writeFileSync(out, `${JSON.stringify(dashboard, null, 2)}\n`);
console.log(`wrote ${out.pathname}`);
