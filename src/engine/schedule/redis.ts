import { Queue, WaitingError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { redactUrl, type RunWindow } from '../../sdk/index.js';
import { escapeQueuePart } from '../../outbox/bullmq.js';
import {
  DEFAULT_MISSED_GRACE_MS,
  ScheduleCore,
  SchedulerStoppedError,
  retryDelay,
  type LastTick,
  type StatusStore,
} from './core.js';
import { tickClock, tickPeriod, type TickClock } from './window.js';
import type { RunTick, Scheduler, SchedulerDeps, ScheduleStatus } from './types.js';

/** The BullMQ queue of a scheduled pipeline (the outbox's are `passerelle.<pipeline>.<sink>`). */
export function scheduleQueueName(pipeline: string): string {
  return `passerelle-schedule.${escapeQueuePart(pipeline)}`;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The job scheduler's id within its queue; its jobs are `repeat:tick:<due ms>`. */
const SCHEDULER_ID = 'tick';

/** What a tick job carries once its first start chose the tick (reruns keep it, however late). */
interface TickData {
  at?: number;
  window?: RunWindow;
}

/** The last tick and the missed count in a Redis hash, so the console of every replica shows them. */
class RedisStatusStore implements StatusStore {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}
  async setLast(last: LastTick): Promise<void> {
    const m = this.redis.multi().hset(this.key, 'last', JSON.stringify(last));
    if (last.outcome === 'completed')
      m.hset(this.key, 'lastSuccess', String(last.startedAt + (last.durationMs ?? 0)));
    await m.exec();
  }
  async addMissed(n: number): Promise<void> {
    await this.redis.hincrby(this.key, 'missed', n);
  }
  async read(): Promise<{ last?: LastTick; lastSuccess?: number; missed: number }> {
    const [last, lastSuccess, missed] = await this.redis.hmget(this.key, 'last', 'lastSuccess', 'missed');
    return {
      ...(last ? { last: JSON.parse(last) as LastTick } : {}),
      ...(lastSuccess ? { lastSuccess: Number(lastSuccess) } : {}),
      missed: Number(missed ?? 0),
    };
  }
}

/**
 * One BullMQ queue and worker per scheduled pipeline, its job scheduler stored in Redis: BullMQ
 * adds the next tick's job when a worker takes the current one, so each tick is one job, taken by
 * one replica, whatever the number of replicas. The run happens inside the job; a failed run is
 * retried by BullMQ (`schedule.retry`), a replica that dies mid-run loses its lock and the job
 * stalls back to another replica, a stopped replica hands its job back at once.
 */
export class RedisScheduler implements Scheduler {
  private readonly clock: TickClock;
  private readonly core: ScheduleCore;
  private readonly now: () => number;
  private readonly queueName: string;
  private readonly statusKey: string;
  private readonly prefix: string;
  private readonly lockDurationMs: number;
  private readonly stalledIntervalMs: number;
  private connection: Redis | undefined;
  private queue: Queue | undefined;
  private worker: Worker | undefined;
  private store: RedisStatusStore | undefined;
  private stopper = new AbortController();
  private refresher: NodeJS.Timeout | undefined;
  private cached: Omit<ScheduleStatus, 'description' | 'store'> = { missed: 0 };

  constructor(private readonly deps: SchedulerDeps & { redisUrl: string }) {
    this.now = deps.now ?? Date.now;
    this.clock = tickClock(deps.options);
    this.prefix = deps.prefix ?? 'passerelle';
    this.queueName = scheduleQueueName(deps.pipeline);
    this.statusKey = `${this.prefix}:schedule:${escapeQueuePart(deps.pipeline)}`;
    this.lockDurationMs = deps.lockDurationMs ?? 30_000;
    this.stalledIntervalMs = deps.stalledIntervalMs ?? this.lockDurationMs;
    // The store is set in start(); the core reads it through this indirection.
    const store: StatusStore = {
      setLast: (last) => this.store?.setLast(last) ?? Promise.resolve(),
      addMissed: (n) => this.store?.addMissed(n) ?? Promise.resolve(),
      read: () => this.store?.read() ?? Promise.resolve({ missed: 0 }),
    };
    this.core = new ScheduleCore({
      pipeline: deps.pipeline,
      options: deps.options,
      clock: this.clock,
      logger: deps.logger,
      now: this.now,
      store,
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
      missedGraceMs: deps.missedGraceMs ?? DEFAULT_MISSED_GRACE_MS,
    });
  }

  /** What the job scheduler is made of: when it changes, the scheduler is replaced. */
  private definition(): string {
    const { cron, every, timeZone, retry } = this.deps.options;
    return JSON.stringify({ cron, every, timeZone, attempts: retry.attempts });
  }

  async start(run: RunTick): Promise<void> {
    const { logger, options, pipeline } = this.deps;
    this.stopper = new AbortController();
    // Retried across an outage, as BullMQ's workers require; the worker adds its blocking connection.
    const connection = new Redis(this.deps.redisUrl, { maxRetriesPerRequest: null });
    connection.on('error', (err: Error) =>
      logger.warn(
        { pipeline, err: err.message, redis: redactUrl(this.deps.redisUrl) },
        'schedule: redis error',
      ),
    );
    this.connection = connection;
    this.store = new RedisStatusStore(connection, this.statusKey);
    const queue = new Queue(this.queueName, { connection, prefix: this.prefix });
    queue.on('error', (err) => logger.warn({ pipeline, err: err.message }, 'schedule: queue error'));
    this.queue = queue;
    try {
      await withTimeout(queue.waitUntilReady(), this.deps.connectTimeoutMs ?? 10_000);
    } catch (err) {
      await this.stop();
      throw new Error(
        `schedule of ${pipeline}: Redis at ${redactUrl(this.deps.redisUrl)} is not reachable: ${(err as Error).message}`,
      );
    }

    // Replaced only when its definition changed: upserting an unchanged scheduler would replace a
    // tick job left due while every replica was down, and its missed ticks would go unnoticed.
    const def = this.definition();
    const [existing, storedDef] = await Promise.all([
      queue.getJobScheduler(SCHEDULER_ID),
      connection.hget(this.statusKey, 'def'),
    ]);
    if (!existing || storedDef !== def) {
      const repeat =
        options.cron !== undefined
          ? { pattern: options.cron, tz: this.clock.timeZone }
          : // Aligned to the epoch: BullMQ starts an `every` at `startDate`, then adds `every`.
            { every: options.every!, startDate: this.clock.next(this.now()) };
      await queue.upsertJobScheduler(SCHEDULER_ID, repeat, {
        name: 'tick',
        data: {},
        opts: {
          attempts: options.retry.attempts,
          backoff: { type: 'schedule' },
          removeOnComplete: true,
          removeOnFail: { count: 100 },
        },
      });
      await connection.hset(this.statusKey, 'def', def);
      logger.info({ pipeline, schedule: this.clock.description }, 'schedule: job scheduler stored in redis');
    }

    const worker = new Worker(this.queueName, (job, token) => this.process(job, token, run), {
      connection,
      prefix: this.prefix,
      concurrency: 1,
      lockDuration: this.lockDurationMs,
      stalledInterval: this.stalledIntervalMs,
      // A run whose replica keeps dying (out of memory) fails after this many stalls.
      maxStalledCount: 10,
      settings: { backoffStrategy: (attemptsMade: number) => retryDelay(options.retry, attemptsMade) },
      autorun: false,
    });
    worker.on('error', (err) => logger.warn({ pipeline, err: err.message }, 'schedule: worker error'));
    this.worker = worker;
    void worker
      .run()
      .catch((err: unknown) => logger.error({ pipeline, err: String(err) }, 'schedule: worker stopped'));
    await this.refresh();
    const every = this.deps.statusRefreshMs ?? 5000;
    this.refresher = setInterval(() => void this.refresh(), every);
    this.refresher.unref();
  }

  private async process(job: Job, token: string | undefined, run: RunTick): Promise<void> {
    const id = job.id ?? '';
    const due = Number(id.slice(id.lastIndexOf(':') + 1));
    if (!Number.isFinite(due)) throw new Error(`schedule: unexpected job id ${id}`);
    const data = job.data as TickData;
    let at: number;
    let window: RunWindow;
    if (data.at !== undefined && data.window) {
      ({ at, window } = data as Required<TickData>);
    } else {
      // BullMQ's own time of taking the job: it chose the next tick from about then, so the ticks
      // up to it are this job's to run or count, and the ones after it are the next job's.
      const now = Math.min(this.now(), job.processedOn ?? Infinity);
      const decision = this.core.decide(due, now);
      await this.core.applyMissed(decision, now);
      if (decision.kind === 'skip') {
        await this.refresh();
        return;
      }
      ({ at, window } = decision);
      await job.updateData({ at, window } satisfies TickData);
    }
    const attempt = Math.max(1, job.attemptsStarted);
    const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    try {
      await this.core.attempt(run, { at, window, attempt, final }, this.stopper.signal);
    } catch (err) {
      // Stopping: hand the tick back now rather than after the lock expires; no attempt is used.
      if (err instanceof SchedulerStoppedError && token) {
        await job.moveToWait(token);
        throw new WaitingError();
      }
      throw err;
    } finally {
      await this.refresh();
    }
  }

  /** Reads the shared status (last tick, missed, next tick) and sets the gauges from it. */
  private async refresh(): Promise<void> {
    const { queue, store } = this;
    if (!queue || !store) return;
    const { pipeline, metrics, logger } = this.deps;
    try {
      const [state, scheduler] = await Promise.all([store.read(), queue.getJobScheduler(SCHEDULER_ID)]);
      const next = scheduler?.next ?? undefined;
      this.cached = {
        missed: state.missed,
        ...(state.last ? { last: state.last } : {}),
        ...(typeof next === 'number' ? { next } : {}),
      };
      if (state.lastSuccess !== undefined) metrics?.lastSuccess.set({ pipeline }, state.lastSuccess / 1000);
      if (typeof next === 'number') {
        metrics?.nextTick.set({ pipeline }, next / 1000);
        metrics?.period.set({ pipeline }, tickPeriod(this.clock, next) / 1000);
      }
    } catch (err) {
      logger.debug({ pipeline, err: (err as Error).message }, 'schedule: status not refreshed');
    }
  }

  status(): ScheduleStatus {
    const stopped = this.stopper.signal.aborted || !this.worker;
    const { next, ...rest } = this.cached;
    return {
      description: this.clock.description,
      store: 'redis',
      ...rest,
      ...(next !== undefined && !stopped ? { next } : {}),
    };
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    clearInterval(this.refresher);
    this.refresher = undefined;
    // The job scheduler stays in Redis: the schedule outlives this replica.
    await this.worker?.close();
    await this.queue?.close();
    const connection = this.connection;
    if (connection?.status === 'ready') await connection.quit().catch(() => connection.disconnect());
    else connection?.disconnect();
    this.worker = undefined;
    this.queue = undefined;
    this.store = undefined;
    this.connection = undefined;
  }
}

/**
 * Forgets a scheduled pipeline in Redis (it was removed from the configuration of every replica):
 * its job scheduler and its next tick job, its failed tick jobs and its shared status. A run in
 * progress elsewhere finishes; no new tick is added after it.
 */
export async function removeSchedule(options: {
  redisUrl: string;
  pipeline: string;
  prefix?: string;
  /** How long to try before failing (Redis down): default 10 s. */
  timeoutMs?: number;
}): Promise<void> {
  const prefix = options.prefix ?? 'passerelle';
  const connection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  // Reported by the rejection below; without a listener ioredis prints each retry.
  connection.on('error', () => undefined);
  const queue = new Queue(scheduleQueueName(options.pipeline), { connection, prefix });
  queue.on('error', () => undefined);
  const remove = async (): Promise<void> => {
    await queue.removeJobScheduler(SCHEDULER_ID);
    await queue.clean(0, 1000, 'failed');
    await connection.del(`${prefix}:schedule:${escapeQueuePart(options.pipeline)}`);
  };
  try {
    await withTimeout(remove(), options.timeoutMs ?? 10_000).catch((err: unknown) => {
      throw new Error(
        `schedule of ${options.pipeline}: not removed from Redis at ${redactUrl(options.redisUrl)}: ${(err as Error).message}`,
      );
    });
  } finally {
    if (connection.status === 'ready') {
      await queue.close();
      await connection.quit().catch(() => connection.disconnect());
    } else {
      // Redis is not reachable: closing the queue would wait for it.
      connection.disconnect();
      void queue.close().catch(() => undefined);
    }
  }
}
