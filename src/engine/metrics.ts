import { Counter, Gauge, Histogram, Registry, type HistogramConfiguration } from './prom-client.js';

/**
 * One labelled series of a {@link SeriesHistogram}, observed without prom-client: a bucket found
 * by a loop and three additions, no allocation. prom-client's own `observe` builds a label object
 * and a hash string per call (3 % of a relay's CPU with one observation per delivered message).
 */
export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  /** Counts `value` (seconds) in its bucket, as prom-client would (`le` inclusive). Ignores NaN and infinities, which prom-client refuses with an exception. */
  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }

  clear(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

interface ExportedValue {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string | number>;
  value: number;
  metricName?: string;
  exemplar?: unknown;
}

/**
 * A prom-client Histogram whose hot-path series ({@link series}) count outside prom-client and are
 * added to its output when the registry reads it: /metrics shows one histogram whatever way a value
 * was observed (the usual `observe(labels, value)` still works).
 */
export class SeriesHistogram<T extends string> extends Histogram<T> {
  private readonly ours = new Map<string, HistogramSeries>();
  private readonly bounds: number[];
  private readonly names: T[];
  private readonly metricName: string;

  constructor(config: HistogramConfiguration<T> & { buckets: number[]; labelNames: readonly T[] }) {
    super(config);
    this.bounds = [...config.buckets].sort((a, b) => a - b);
    this.names = [...config.labelNames];
    this.metricName = config.name;
  }

  /** The series of these labels (the same object for the same labels). */
  series(labels: Record<T, string>): HistogramSeries {
    const key = this.names.map((n) => labels[n]).join('\u0000');
    let s = this.ours.get(key);
    if (!s) {
      const own: Record<string, string> = {};
      for (const n of this.names) own[n] = labels[n];
      s = new HistogramSeries(own, this.bounds);
      this.ours.set(key, s);
    }
    return s;
  }

  /** What the registry reads for the text format (prom-client's get() goes through it too). */
  async getForPromString(): Promise<{ values: ExportedValue[] }> {
    const parent = Histogram.prototype as unknown as {
      getForPromString(this: Histogram<T>): Promise<{ values: ExportedValue[] }>;
    };
    const data = await parent.getForPromString.call(this);
    for (const s of this.ours.values()) if (s.count > 0) this.merge(data.values, s);
    return data;
  }

  override reset(): void {
    super.reset();
    // prom-client's constructor calls reset() before this class's fields exist.
    const ours = this.ours as Map<string, HistogramSeries> | undefined;
    if (ours) for (const s of ours.values()) s.clear();
  }

  override remove(...args: string[] | [Partial<Record<T, string | number>>]): void {
    (super.remove as (...a: unknown[]) => void).apply(this, args);
    const first = args[0];
    const wanted: Record<string, unknown> =
      typeof first === 'object' && first !== null
        ? first
        : Object.fromEntries(this.names.map((n, i) => [n, args[i]]));
    for (const [key, s] of this.ours)
      if (this.names.every((n) => s.labels[n] === String(wanted[n]))) this.ours.delete(key);
  }

  /** Adds a series to prom-client's values: to the entries of the same labels, or as new ones. */
  private merge(values: ExportedValue[], s: HistogramSeries): void {
    const same = (v: ExportedValue): boolean =>
      v.sharedLabels !== undefined && this.names.every((n) => String(v.sharedLabels![n]) === s.labels[n]);
    const existing = values.filter(same);
    let cumulative = 0;
    const rows: ExportedValue[] = this.bounds.map((bound, i) => {
      cumulative += s.counts[i]!;
      return {
        labels: { le: bound },
        sharedLabels: s.labels,
        value: cumulative,
        exemplar: null,
        metricName: `${this.metricName}_bucket`,
      };
    });
    rows.push(
      {
        labels: { le: '+Inf' },
        sharedLabels: s.labels,
        value: s.count,
        metricName: `${this.metricName}_bucket`,
        exemplar: null,
      },
      { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.metricName}_sum` },
      { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.metricName}_count` },
    );
    if (existing.length === 0) {
      values.push(...rows);
      return;
    }
    for (const row of rows) {
      const match = existing.find(
        (v) => v.metricName === row.metricName && String(v.labels.le) === String(row.labels.le),
      );
      if (match) match.value += row.value;
    }
  }
}

/**
 * Prometheus metrics of all pipelines. The counters reconcile, per pipeline and sink:
 *   received + replayed + generated = delivered{sink} + filtered + dead_lettered{stage!=other sinks} + dropped + in_flight{sink}
 * (with one sink and no replays: received = delivered + filtered + dead_lettered + dropped + in_flight).
 */
export class EngineMetrics {
  readonly registry: Registry;
  readonly received: Counter<'pipeline'>;
  readonly filtered: Counter<'pipeline' | 'component'>;
  readonly deadLettered: Counter<'pipeline' | 'stage'>;
  readonly dropped: Counter<'pipeline' | 'component' | 'reason'>;
  readonly delivered: Counter<'pipeline' | 'sink'>;
  readonly inFlight: Gauge<'pipeline' | 'sink'>;
  readonly outboxDepth: Gauge<'pipeline' | 'sink'>;
  readonly connected: Gauge<'pipeline' | 'component' | 'type'>;
  readonly reconnects: Counter<'pipeline' | 'component'>;
  readonly retries: Counter<'pipeline' | 'sink'>;
  readonly deadLettersEvicted: Counter<'pipeline' | 'cause'>;
  readonly enqueueFailures: Counter<'pipeline' | 'sink'>;
  /** Observed per delivered message through `deliveryLatency.series(labels)` (no prom-client call each). */
  readonly deliveryLatency: SeriesHistogram<'pipeline' | 'sink'>;
  readonly replayed: Counter<'pipeline'>;
  readonly generated: Counter<'pipeline' | 'component'>;

  constructor(registry = new Registry()) {
    this.registry = registry;
    const r = [registry];
    this.received = new Counter({
      name: 'passerelle_messages_received_total',
      help: 'Messages read from the source (including undecodable ones).',
      labelNames: ['pipeline'],
      registers: r,
    });
    this.filtered = new Counter({
      name: 'passerelle_messages_filtered_total',
      help: 'Messages removed on purpose by a transform.',
      labelNames: ['pipeline', 'component'],
      registers: r,
    });
    this.deadLettered = new Counter({
      name: 'passerelle_messages_dead_lettered_total',
      help: 'Messages moved to the dead letters, by the stage where they failed.',
      labelNames: ['pipeline', 'stage'],
      registers: r,
    });
    this.dropped = new Counter({
      name: 'passerelle_messages_dropped_total',
      help: 'Messages dropped by a policy (never silently).',
      labelNames: ['pipeline', 'component', 'reason'],
      registers: r,
    });
    this.delivered = new Counter({
      name: 'passerelle_messages_delivered_total',
      help: 'Messages written by a sink.',
      labelNames: ['pipeline', 'sink'],
      registers: r,
    });
    this.inFlight = new Gauge({
      name: 'passerelle_messages_in_flight',
      help: 'Messages received and not yet settled for this sink (in transforms or in its outbox).',
      labelNames: ['pipeline', 'sink'],
      registers: r,
    });
    this.outboxDepth = new Gauge({
      name: 'passerelle_outbox_depth',
      help: 'Messages stored in the sink outbox and not yet settled.',
      labelNames: ['pipeline', 'sink'],
      registers: r,
    });
    this.connected = new Gauge({
      name: 'passerelle_component_connected',
      help: '1 when the source or sink is connected.',
      labelNames: ['pipeline', 'component', 'type'],
      registers: r,
    });
    this.reconnects = new Counter({
      name: 'passerelle_reconnects_total',
      help: 'Connections lost by a source or sink.',
      labelNames: ['pipeline', 'component'],
      registers: r,
    });
    this.retries = new Counter({
      name: 'passerelle_sink_retries_total',
      help: 'Batch write attempts that failed and were retried.',
      labelNames: ['pipeline', 'sink'],
      registers: r,
    });
    this.deadLettersEvicted = new Counter({
      name: 'passerelle_dead_letters_evicted_total',
      help: 'Dead letters removed by the retention limits (cause: maxAge, maxCount or maxBytes).',
      labelNames: ['pipeline', 'cause'],
      registers: r,
    });
    this.enqueueFailures = new Counter({
      name: 'passerelle_outbox_enqueue_failures_total',
      help: 'Failed attempts to store a batch in the outbox (e.g. Redis unreachable); retried.',
      labelNames: ['pipeline', 'sink'],
      registers: r,
    });
    this.replayed = new Counter({
      name: 'passerelle_messages_replayed_total',
      help: 'Dead letters re-driven on request; they count again in the other counters (add this to received).',
      labelNames: ['pipeline'],
      registers: r,
    });
    this.generated = new Counter({
      name: 'passerelle_messages_generated_total',
      help: 'Messages a transform emitted on its own (closed aggregate windows); they count like received ones (add this to received).',
      labelNames: ['pipeline', 'component'],
      registers: r,
    });
    this.deliveryLatency = new SeriesHistogram({
      name: 'passerelle_delivery_latency_seconds',
      help: 'From the message time (receipt by the source, or the source timestamp) to the sink write completing.',
      labelNames: ['pipeline', 'sink'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: r,
    });
  }
}
