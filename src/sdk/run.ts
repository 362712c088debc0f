import type { Message } from './message.js';

/*
 * Scheduled pipelines (docs/scheduling.md). A pipeline with a `schedule` does not stream: each tick
 * of its schedule is one *run*. The run reads what its window asks for from the source (one read of
 * the listed OPC UA nodes, an InfluxDB query over the window), passes it through the transforms,
 * writes it to every sink, and is complete only when every sink has stored its rows for the run.
 * The tick, not the message, is the durable unit: with Redis it is a BullMQ job (a job scheduler
 * stored in Redis, one job per tick whatever the number of replicas); a run that fails, or whose
 * replica dies, runs again whole. So a sink that knows runs writes each run's output idempotently:
 * the same window gives the same file or tab, rewritten, never a second one.
 */

/** The period a run covers, in milliseconds since the epoch: `start` inclusive, `end` exclusive. */
export interface RunWindow {
  start: number;
  end: number;
}

/** One run of a scheduled pipeline: what a source reads and what a sink names its output from. */
export interface Run {
  /**
   * Stable for the tick: `<pipeline>@<window end as ISO 8601>` (a rerun of the same tick has the
   * same id), so sinks can name or dedupe their output by it.
   */
  id: string;
  pipeline: string;
  window: RunWindow;
  /** When the tick was due (ms since the epoch); `window.end` unless the run was started by hand. */
  scheduledAt: number;
  /** 1 for the first attempt of this tick, 2 for its first retry... */
  attempt: number;
  /** IANA time zone of the schedule (`Europe/Paris`; `UTC` for intervals): for names and dates. */
  timeZone: string;
}

/** What a scheduled pipeline reads on a tick. A source definition offers it with `createReader`. */
export interface RunReader {
  connect(signal: AbortSignal): Promise<void>;
  /**
   * Reads what the run needs, as batches. Each message is stamped with its own time (the read time
   * for a snapshot, the point's time for a query). Throws RetryableError/NotConnectedError when the
   * run should be retried, FatalError when it can not succeed as configured.
   */
  read(run: Run, signal: AbortSignal): AsyncIterable<Message[]>;
  close(): Promise<void>;
}

/** What a sink wrote for one run, for the run's manifest (`passerelle_schedule_*`, status page). */
export interface RunOutput {
  /** Where the run's rows are: file paths, tab names, a measurement. */
  targets: string[];
  /** Rows (messages) the sink stored for the run. */
  rows: number;
}

/**
 * A sink that knows runs (Excel `rotate: run`, one Sheets tab per run). The engine calls
 * `beginRun` before the run's first write, `write()` as usual, then `endRun` once every batch of the
 * run is written; the run is complete when `endRun` resolves (the file renamed into place, the tab
 * complete). A rerun of the same `run.id` must replace the earlier attempt's output, not add to it.
 */
export interface RunAwareSink {
  beginRun(run: Run, signal: AbortSignal): Promise<void>;
  endRun(run: Run, signal: AbortSignal): Promise<RunOutput>;
}

/** The `meta` key under which every message of a run carries its run: `{ id, window }`. */
export const RUN_META_KEY = 'run';

/** Narrows a sink to one that knows runs. */
export function isRunAware(sink: object): sink is RunAwareSink {
  return (
    typeof (sink as Partial<RunAwareSink>).beginRun === 'function' &&
    typeof (sink as Partial<RunAwareSink>).endRun === 'function'
  );
}
