import { ProcessScheduler } from './process.js';
import { RedisScheduler } from './redis.js';
import type { Scheduler, SchedulerDeps } from './types.js';

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
export { removeSchedule, scheduleQueueName } from './redis.js';
export { tickClock, tickWindow, type TickClock } from './window.js';
export { scheduleCaveats } from './caveats.js';

/**
 * The scheduler of one scheduled pipeline: BullMQ job schedulers when `redisUrl` is given (ticks
 * survive restarts, each runs on one replica), a timer in this process otherwise. Pass the
 * process's `metrics` (new ScheduleMetrics(registry)) to export `passerelle_schedule_*`.
 */
export function createScheduler(deps: SchedulerDeps): Scheduler {
  return deps.redisUrl
    ? new RedisScheduler({ ...deps, redisUrl: deps.redisUrl })
    : new ProcessScheduler(deps);
}
