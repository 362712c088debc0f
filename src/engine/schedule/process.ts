import {
  DEFAULT_MISSED_GRACE_MS,
  MemoryStatusStore,
  ScheduleCore,
  SchedulerStoppedError,
  retryDelay,
} from './core.js';
import type { ScheduleMetrics } from './metrics.js';
import { tickClock, tickPeriod } from './window.js';
import type { RunTick, Scheduler, SchedulerDeps, ScheduleStatus } from './types.js';

/**
 * The schedule without Redis: a timer in this process, the same tick semantics as the Redis
 * scheduler for one process (missed ticks, retries, timeout). What it can not do: know the ticks
 * due while the process was down (they are not counted) or keep a second process from running the
 * same ticks. Runs are one at a time: a run or its retries running past the next tick make that
 * tick late (missed when past the grace).
 */
export class ProcessScheduler implements Scheduler {
  private readonly core: ScheduleCore;
  private readonly store = new MemoryStatusStore();
  private readonly now: () => number;
  private readonly metrics: ScheduleMetrics | undefined;
  private readonly description: string;
  private next: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopper = new AbortController();
  private loop: Promise<void> = Promise.resolve();

  constructor(private readonly deps: SchedulerDeps & { metrics?: ScheduleMetrics; missedGraceMs?: number }) {
    this.now = deps.now ?? Date.now;
    this.metrics = deps.metrics;
    const clock = tickClock(deps.options);
    this.description = clock.description;
    this.core = new ScheduleCore({
      pipeline: deps.pipeline,
      options: deps.options,
      clock,
      logger: deps.logger,
      now: this.now,
      store: this.store,
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
      missedGraceMs: deps.missedGraceMs ?? DEFAULT_MISSED_GRACE_MS,
    });
  }

  start(run: RunTick): Promise<void> {
    this.stopper = new AbortController();
    this.arm(this.core.o.clock.next(this.now()), run);
    return Promise.resolve();
  }

  private arm(due: number, run: RunTick): void {
    if (this.stopper.signal.aborted) return;
    this.showNext(due);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.loop = this.fire(due, run);
      },
      Math.max(0, due - this.now()),
    );
  }

  private showNext(due: number): void {
    const { pipeline } = this.deps;
    this.next = due;
    this.metrics?.nextTick.set({ pipeline }, due / 1000);
    this.metrics?.period.set({ pipeline }, tickPeriod(this.core.o.clock, due) / 1000);
  }

  private async fire(due: number, run: RunTick): Promise<void> {
    const now = this.now();
    const { clock } = this.core.o;
    // As BullMQ does when a worker takes a tick: the next one is the first after now.
    const following = clock.next(Math.max(now, due));
    this.showNext(following);
    const decision = this.core.decide(due, now);
    await this.core.applyMissed(decision, now);
    if (decision.kind === 'run') {
      const { attempts } = this.deps.options.retry;
      for (let attempt = 1; attempt <= attempts && !this.stopper.signal.aborted; attempt++) {
        try {
          await this.core.attempt(
            run,
            { at: decision.at, window: decision.window, attempt, final: attempt === attempts },
            this.stopper.signal,
          );
          break;
        } catch (err) {
          if (err instanceof SchedulerStoppedError || attempt === attempts) break;
          await this.pause(retryDelay(this.deps.options.retry, attempt));
        }
      }
    }
    this.arm(following, run);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.stopper.signal;
      const done = (): void => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  status(): ScheduleStatus {
    const s = this.store.current();
    return {
      description: this.description,
      store: 'process',
      ...(this.next !== undefined && !this.stopper.signal.aborted ? { next: this.next } : {}),
      missed: s.missed,
      ...(s.last ? { last: s.last } : {}),
    };
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.loop;
  }
}
