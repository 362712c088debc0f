import { redact, type Logger, type RunWindow } from '../../sdk/index.js';
import type { ScheduleOptions } from '../../config/pipeline-schema.js';
import type { ScheduleMetrics } from './metrics.js';
import { formatDuration, tickAtOrBefore, tickWindow, ticksBetween, type TickClock } from './window.js';
import type { RunSummary, RunTick, ScheduleStatus } from './types.js';

/** How late a tick may start and still be on time (never past the next tick). */
export const DEFAULT_MISSED_GRACE_MS = 60_000;

export type LastTick = NonNullable<ScheduleStatus['last']>;

/** Where the last tick and the missed count are kept: memory, or a Redis hash every replica reads. */
export interface StatusStore {
  setLast(last: LastTick): Promise<void>;
  addMissed(n: number): Promise<void>;
  read(): Promise<{ last?: LastTick; lastSuccess?: number; missed: number }>;
}

export class MemoryStatusStore implements StatusStore {
  private state: { last?: LastTick; lastSuccess?: number; missed: number } = { missed: 0 };
  setLast(last: LastTick): Promise<void> {
    this.state.last = last;
    if (last.outcome === 'completed') this.state.lastSuccess = last.startedAt + (last.durationMs ?? 0);
    return Promise.resolve();
  }
  addMissed(n: number): Promise<void> {
    this.state.missed += n;
    return Promise.resolve();
  }
  read(): Promise<{ last?: LastTick; lastSuccess?: number; missed: number }> {
    return Promise.resolve(this.current());
  }
  current(): { last?: LastTick; lastSuccess?: number; missed: number } {
    return { ...this.state };
  }
}

/** What to do with a tick taken at `now` (its first start, not a rerun). */
export type Decision =
  | { kind: 'run'; at: number; window: RunWindow; missed: number; late: boolean }
  | { kind: 'skip'; at: number; window: RunWindow; missed: number };

/** The scheduler was stopped: the run is aborted and its tick left for another replica or the next start. */
// Internal: the abort reason the scheduler gives its own runs; no component throws or sees it.
export class SchedulerStoppedError extends Error {
  constructor() {
    super('the scheduler stopped: the tick will run again');
    this.name = 'SchedulerStoppedError';
  }
}

export interface CoreOptions {
  pipeline: string;
  options: ScheduleOptions;
  clock: TickClock;
  logger: Logger;
  now: () => number;
  store: StatusStore;
  metrics?: ScheduleMetrics;
  missedGraceMs: number;
}

/** The part both schedulers share: missed ticks, one attempt with its timeout, status and metrics. */
export class ScheduleCore {
  constructor(readonly o: CoreOptions) {
    // Series exist from the start at 0, so increase() sees the first failure or missed tick.
    const { metrics, pipeline, options } = o;
    for (const outcome of ['completed', 'retried', 'failed', 'aborted'])
      metrics?.runs.inc({ pipeline, outcome }, 0);
    metrics?.missed.inc({ pipeline, policy: options.missed }, 0);
  }

  window(at: number): RunWindow {
    return tickWindow(this.o.options, this.o.clock, at);
  }

  /**
   * A tick due at `due` is on time when it starts within the grace (1 min by default, never past
   * the next tick). Otherwise it and every later tick due by `now` are missed: `run-once` runs the
   * latest of them, late, with its own window; `skip` runs none and waits for the next tick.
   * Either way all of them are counted as missed.
   */
  decide(due: number, now: number): Decision {
    const { clock, options } = this.o;
    const grace = Math.min(this.o.missedGraceMs, clock.next(due) - due);
    if (now - due <= grace) return { kind: 'run', at: due, window: this.window(due), missed: 0, late: false };
    const missed = ticksBetween(clock, due, now).length || 1;
    const at = Math.max(due, tickAtOrBefore(clock, now));
    if (options.missed === 'skip') return { kind: 'skip', at, window: this.window(at), missed };
    return { kind: 'run', at, window: this.window(at), missed, late: true };
  }

  /** Counts missed ticks and, for `skip`, records the skipped tick as the last one. */
  async applyMissed(decision: Decision, now: number): Promise<void> {
    if (decision.missed === 0) return;
    const { pipeline, options, logger, metrics, store } = this.o;
    metrics?.missed.inc({ pipeline, policy: options.missed }, decision.missed);
    logger.warn(
      {
        pipeline,
        missed: decision.missed,
        policy: options.missed,
        tick: new Date(decision.at).toISOString(),
      },
      decision.kind === 'skip'
        ? 'schedule: ticks missed while no replica ran; skipped (missed: skip)'
        : 'schedule: ticks missed while no replica ran; running the latest once (missed: run-once)',
    );
    await store.addMissed(decision.missed);
    if (decision.kind === 'skip')
      await store.setLast({
        scheduledAt: decision.at,
        window: decision.window,
        startedAt: now,
        attempt: 1,
        outcome: 'skipped',
      });
  }

  /**
   * One attempt of a tick: the run gets a signal aborted at `schedule.timeout` or when `stop`
   * aborts. Resolves with the summary, or throws (the caller decides whether it retries). A run
   * that ignores its signal is given up on (its promise is left behind) so the schedule goes on.
   */
  async attempt(
    run: RunTick,
    tick: { at: number; window: RunWindow; attempt: number; final: boolean },
    stop: AbortSignal,
  ): Promise<RunSummary> {
    const { pipeline, options, clock, logger, metrics, store, now } = this.o;
    const startedAt = now();
    const base = { scheduledAt: tick.at, window: tick.window, startedAt, attempt: tick.attempt };
    await store.setLast({ ...base, outcome: 'running' }).catch(() => undefined);
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const aborted = new Promise<never>((_, reject) => {
      ac.signal.addEventListener('abort', () => reject(ac.signal.reason as Error), { once: true });
    });
    const onStop = (): void => ac.abort(new SchedulerStoppedError());
    if (stop.aborted) onStop();
    else stop.addEventListener('abort', onStop, { once: true });
    timer = setTimeout(
      () => ac.abort(new Error(`run timed out after ${formatDuration(options.timeout)} (schedule.timeout)`)),
      options.timeout,
    );
    const running = run(
      { scheduledAt: tick.at, window: tick.window, attempt: tick.attempt, timeZone: clock.timeZone },
      ac.signal,
    );
    try {
      const summary = await Promise.race([running, aborted]);
      const durationMs = now() - startedAt;
      const rows = Object.values(summary.rows).reduce((a, b) => a + b, 0);
      metrics?.runs.inc({ pipeline, outcome: 'completed' });
      metrics?.duration.observe({ pipeline }, durationMs / 1000);
      metrics?.lastSuccess.set({ pipeline }, (startedAt + durationMs) / 1000);
      await store.setLast({ ...base, durationMs, rows, outcome: 'completed' });
      logger.info(
        { pipeline, tick: new Date(tick.at).toISOString(), rows, durationMs },
        'schedule: run completed',
      );
      return summary;
    } catch (err) {
      const durationMs = now() - startedAt;
      const stopped = err instanceof SchedulerStoppedError;
      const error = redact(err instanceof Error ? err.message : String(err));
      if (ac.signal.aborted)
        running.catch((e: unknown) =>
          logger.debug({ pipeline, err: String(e) }, 'schedule: aborted run settled'),
        );
      const outcome = stopped ? 'aborted' : tick.final ? 'failed' : 'retried';
      metrics?.runs.inc({ pipeline, outcome });
      if (!stopped) metrics?.duration.observe({ pipeline }, durationMs / 1000);
      // A stopped run is not an outcome: the tick runs again elsewhere and records its own.
      if (!stopped)
        await store.setLast({ ...base, durationMs, outcome: 'failed', error }).catch(() => undefined);
      (stopped ? logger.info.bind(logger) : logger.warn.bind(logger))(
        { pipeline, tick: new Date(tick.at).toISOString(), attempt: tick.attempt, err: error },
        stopped
          ? 'schedule: run aborted by stop'
          : tick.final
            ? 'schedule: run failed'
            : 'schedule: run failed, will retry',
      );
      throw err;
    } finally {
      clearTimeout(timer);
      timer = undefined;
      stop.removeEventListener('abort', onStop);
    }
  }
}

/** Delay before attempt `attempt + 1`: initialDelay doubling each attempt, at most maxDelay. */
export function retryDelay(retry: ScheduleOptions['retry'], attempt: number): number {
  return Math.min(retry.maxDelay, retry.initialDelay * 2 ** Math.max(0, attempt - 1));
}
