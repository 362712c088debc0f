import { ProcessScheduler } from './process.js';
import type { RedisScheduler } from './redis.js';
import type { RunTick, ScheduleStatus, Scheduler, SchedulerDeps } from './types.js';
import { tickClock } from './window.js';

export type {
  RunSummary,
  RunTick,
  RunOutcome,
  Scheduler,
  SchedulerDeps,
  ScheduleStatus,
  Tick,
} from './types.js';
export { ScheduleMetrics } from './metrics.js';
export { tickClock, tickWindow, type TickClock } from './window.js';
export { scheduleCaveats } from './caveats.js';

/**
 * The scheduler of one scheduled pipeline: BullMQ job schedulers when `redisUrl` is given (ticks
 * survive restarts, each runs on one replica), a timer in this process otherwise. Pass the
 * process's `metrics` (new ScheduleMetrics(registry)) to export `passerelle_schedule_*`.
 */
export function createScheduler(deps: SchedulerDeps): Scheduler {
  return deps.redisUrl
    ? new LazyRedisScheduler({ ...deps, redisUrl: deps.redisUrl })
    : new ProcessScheduler(deps);
}

/** Forgets a removed pipeline's schedule in Redis (see redis.ts); loads BullMQ only when called. */
export async function removeSchedule(
  options: Parameters<typeof import('./redis.js').removeSchedule>[0],
): Promise<void> {
  await (await import('./redis.js')).removeSchedule(options);
}

/**
 * BullMQ and ioredis cost megabytes and load only with the first scheduler that uses Redis: the
 * service imports this module for every configuration, most of which have no schedule.
 */
class LazyRedisScheduler implements Scheduler {
  private inner: RedisScheduler | undefined;
  private readonly description: string;

  constructor(private readonly deps: SchedulerDeps & { redisUrl: string }) {
    this.description = tickClock(deps.options).description;
  }

  async start(run: RunTick): Promise<void> {
    const { RedisScheduler } = await import('./redis.js');
    this.inner = new RedisScheduler(this.deps);
    await this.inner.start(run);
  }

  status(): ScheduleStatus {
    return this.inner?.status() ?? { description: this.description, store: 'redis', missed: 0 };
  }

  async stop(): Promise<void> {
    await this.inner?.stop();
  }
}
