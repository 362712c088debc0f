import type { Logger, RunOutput, RunWindow } from '../../sdk/index.js';
import type { ScheduleOptions } from '../../config/pipeline-schema.js';
import type { ScheduleMetrics } from './metrics.js';

/*
 * The two halves of a scheduled pipeline (docs/scheduling.md): the scheduler decides when a tick is
 * due and makes sure one replica runs it (BullMQ job schedulers with Redis, a timer without); the
 * run executor (run.ts) does the run. They meet here.
 */

/** One tick handed to the executor. */
export interface Tick {
  /** When the tick was due (ms since the epoch). For `run --once`, when it was asked for. */
  scheduledAt: number;
  window: RunWindow;
  /** 1 for the first attempt of the tick, 2 for its first rerun... */
  attempt: number;
  timeZone: string;
}

/** What a completed run reports, for the status, the metrics and the manifest. */
export interface RunSummary {
  /** Messages read from the source. */
  read: number;
  /** Rows written per sink name. */
  rows: Record<string, number>;
  /** What each sink that knows runs wrote (files, tabs), per sink name. */
  outputs: Record<string, RunOutput>;
  deadLettered: number;
}

/** Runs one tick; resolves when the run is complete, throws when it failed (the scheduler reruns it). */
export type RunTick = (tick: Tick, signal: AbortSignal) => Promise<RunSummary>;

export type RunOutcome = 'running' | 'completed' | 'failed' | 'skipped';

export interface ScheduleStatus {
  /** `cron 0 6 * * * Europe/Paris` or `every 15m`. */
  description: string;
  /** Where ticks are kept: `redis` (survive restarts, one run per tick across replicas) or `process`. */
  store: 'redis' | 'process';
  /** The next tick, ms since the epoch; undefined while stopped. */
  next?: number;
  last?: {
    scheduledAt: number;
    window: RunWindow;
    startedAt: number;
    durationMs?: number;
    rows?: number;
    attempt: number;
    outcome: RunOutcome;
    error?: string;
  };
  /** Ticks missed while no replica ran (counted at start), by the policy applied. */
  missed: number;
}

export interface Scheduler {
  /** Starts taking ticks; each due tick calls `run` on exactly one replica. */
  start(run: RunTick): Promise<void>;
  status(): ScheduleStatus;
  /** Stops taking ticks; a run in progress is aborted and will be rerun by another replica or at the next start. */
  stop(): Promise<void>;
}

export interface SchedulerDeps {
  pipeline: string;
  options: ScheduleOptions;
  logger: Logger;
  /** With Redis, ticks are BullMQ jobs; without, the process keeps the schedule itself. */
  redisUrl?: string;
  /** Injected for tests (fake clocks); default Date.now. */
  now?: () => number;
  /** The process's schedule metrics (one ScheduleMetrics per registry, shared by every scheduler). */
  metrics?: ScheduleMetrics;
  /** Redis key prefix of the queues and the status hash (default `passerelle`, as the outbox). */
  prefix?: string;
  /** Lock of a running tick job: a replica that dies mid-run gives its tick up after about this (default 30 s). */
  lockDurationMs?: number;
  /** How often workers look for stalled tick jobs (default: lockDurationMs). */
  stalledIntervalMs?: number;
  /** How late a tick may start and still be on time (default 1 min, never past the next tick). */
  missedGraceMs?: number;
  /** With Redis, how long start() waits for Redis before it fails (default 10 s). */
  connectTimeoutMs?: number;
  /** With Redis, how often the shared status is read back (default 5 s). */
  statusRefreshMs?: number;
}
