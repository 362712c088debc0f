import type { Registry } from '../../engine/prom-client.js';

/** The counters the status page plots, per pipeline, summed over their other labels. */
const SERIES = {
  received: 'passerelle_messages_received_total',
  delivered: 'passerelle_messages_delivered_total',
  filtered: 'passerelle_messages_filtered_total',
  deadLettered: 'passerelle_messages_dead_lettered_total',
  dropped: 'passerelle_messages_dropped_total',
} as const;

export type SeriesName = keyof typeof SERIES;
export const SERIES_NAMES = Object.keys(SERIES) as SeriesName[];

/** One pipeline's rates (messages per second) between two samples. */
export interface RatePoint {
  /** End of the interval, ms since the epoch. */
  t: number;
  rates: Record<SeriesName, number>;
}

export interface PipelineRates {
  totals: Record<SeriesName, number>;
  points: RatePoint[];
}

/**
 * Samples the engine's counters every few seconds and keeps the last minutes of rates per
 * pipeline, so the status page shows a history as soon as it opens (not only from then on).
 */
export class RateHistory {
  private readonly history = new Map<string, PipelineRates>();
  private last: { t: number; totals: Map<string, Record<SeriesName, number>> } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly options: { everyMs?: number; keepMs?: number } = {},
  ) {}

  start(): void {
    const every = this.options.everyMs ?? 2000;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  get(pipeline: string): PipelineRates {
    return this.history.get(pipeline) ?? { totals: zeros(), points: [] };
  }

  /** Reads the counters now; exposed for tests. */
  async sample(now = Date.now()): Promise<void> {
    const totals = new Map<string, Record<SeriesName, number>>();
    for (const name of SERIES_NAMES) {
      const metric = this.registry.getSingleMetric(SERIES[name]);
      if (!metric) continue;
      const { values } = await metric.get();
      for (const v of values) {
        const pipeline = String(v.labels.pipeline ?? '');
        if (!pipeline) continue;
        const row = totals.get(pipeline) ?? zeros();
        row[name] += v.value;
        totals.set(pipeline, row);
      }
    }
    const keep = this.options.keepMs ?? 5 * 60_000;
    for (const [pipeline, row] of totals) {
      const entry = this.history.get(pipeline) ?? { totals: row, points: [] };
      entry.totals = row;
      const previous = this.last?.totals.get(pipeline);
      if (previous && this.last) {
        const seconds = Math.max(0.001, (now - this.last.t) / 1000);
        const rates = zeros();
        for (const name of SERIES_NAMES) rates[name] = Math.max(0, (row[name] - previous[name]) / seconds);
        entry.points.push({ t: now, rates });
        while (entry.points.length > 0 && entry.points[0]!.t < now - keep) entry.points.shift();
      }
      this.history.set(pipeline, entry);
    }
    this.last = { t: now, totals };
  }
}

function zeros(): Record<SeriesName, number> {
  return { received: 0, delivered: 0, filtered: 0, deadLettered: 0, dropped: 0 };
}
