import type * as BullMQ from 'bullmq';
import type { Job, JobsOptions } from 'bullmq';
import { createRequire } from 'node:module';
import { inspect } from 'node:util';
import { Redis } from 'ioredis';
import { redact, redactUrl, silentLogger, sleep, type Logger, type Message } from '../sdk/index.js';
import { Batcher, OutboxClosedError } from './batcher.js';
import { decodeJob, encodeJob, encodeMessage, encodeValue, type JobData } from './codec.js';
import { ConnectionBackoff, runAttempt, type Outcome } from './policy.js';
import { RedisDeadLetters } from './redis-dead-letters.js';
import type {
  DeadLetterRetention,
  JobHandler,
  Outbox,
  OutboxBackend,
  OutboxOptions,
  OutboxStats,
} from './types.js';

// bullmq's entry file loads every class it has (flows, sandboxes, relays, ...: 1.3 MB of source,
// about 1.1 MB of heap in every process with the Redis outbox); its own modules load the few we use.
// bullmq 6 has no `exports` map, so these paths are public; the types come from the entry file.
const requireBullmq = createRequire(import.meta.url);
const { Queue } = requireBullmq('bullmq/dist/cjs/classes/queue.js') as Pick<typeof BullMQ, 'Queue'>;
const { Worker } = requireBullmq('bullmq/dist/cjs/classes/worker.js') as Pick<typeof BullMQ, 'Worker'>;
const { DelayedError, WaitingError } = requireBullmq('bullmq/dist/cjs/classes/errors/index.js') as Pick<
  typeof BullMQ,
  'DelayedError' | 'WaitingError'
>;
type Queue = BullMQ.Queue;
type Worker = BullMQ.Worker;

// Our own retry scheduling decides everything; these only catch what escapes it (a Redis hiccup
// in the middle of our bookkeeping): BullMQ then retries the job instead of failing it for good.
const JOB_OPTIONS: JobsOptions = {
  removeOnComplete: true,
  removeOnFail: false,
  attempts: 1_000_000,
  backoff: { type: 'fixed', delay: 1000 },
};

/** Queue names allow no `:`; escaping keeps distinct names distinct. */
export function escapeQueuePart(s: string): string {
  return s.replace(/[^A-Za-z0-9-]/g, (c) => `_${c.codePointAt(0)?.toString(16)}_`);
}

/** The outbox queue of a (pipeline, sink) pair. */
export function queueName(pipeline: string, sink: string): string {
  return `passerelle.${escapeQueuePart(pipeline)}.${escapeQueuePart(sink)}`;
}

export interface BullmqShared {
  url: string;
  producer: Redis;
  /** The workers' command connection, one per process (each worker adds its own blocking one). */
  workers: Redis;
  deadLetters: RedisDeadLetters;
  prefix: string;
  lockDurationMs: number;
  logger: Logger;
}

/**
 * One BullMQ queue and worker per (pipeline, sink). Depth (messages stored and not settled) is a
 * Redis counter shared by all replicas: raised after a job is stored, lowered when its messages
 * settle. A crash between the two steps can only make it lower than the truth, never higher, so
 * backpressure can not wedge; it is clamped at 0 and reset when the queue is found empty at start.
 */
export class BullmqOutbox implements Outbox {
  readonly name: string;
  private queuePromise: Promise<Queue> | undefined;
  private queue: Queue | undefined;
  private worker: Worker | undefined;
  private readonly batcher: Batcher;
  private readonly conn: ConnectionBackoff;
  private readonly depthKey: string;
  private readonly logger: Logger;
  private readonly active = new Map<string, AbortController>();
  private depth = 0;
  private stopped = false;
  private connected = true;
  /** Counts the sink's connections, so an attempt can tell whether it reconnected meanwhile. */
  private connections = 0;
  /** Set after NotConnectedError while the sink still claimed to be connected: fetch nothing until it fires. */
  private suspension: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private closing = false;
  private closed = false;

  constructor(
    private readonly options: OutboxOptions,
    private readonly shared: BullmqShared,
  ) {
    this.name = queueName(options.pipeline, options.sink);
    this.depthKey = `${shared.prefix}:depth:${this.name}`;
    this.logger = shared.logger.child({ sink: options.sink, queue: this.name });
    this.conn = new ConnectionBackoff(options.retry);
    this.batcher = new Batcher(
      options.batch,
      options.capacity,
      () => this.depth,
      (batches) => this.store(batches),
      `outbox ${options.pipeline}/${options.sink}`,
      () => this.refreshDepth(),
    );
    void this.reconcileDepth();
  }

  private getQueue(): Promise<Queue> {
    if (this.closed)
      return Promise.reject(new OutboxClosedError(`outbox ${this.options.pipeline}/${this.options.sink}`));
    if (!this.queuePromise) {
      const q = new Queue(this.name, {
        connection: this.shared.producer,
        prefix: this.shared.prefix,
        defaultJobOptions: JOB_OPTIONS,
      });
      q.on('error', (err) => this.logger.warn({ err: err.message }, 'outbox queue error'));
      this.queue = q;
      // A queue whose first connection failed stays broken: drop it and build a new one next time.
      this.queuePromise = q.waitUntilReady().then(
        () => q,
        (err: unknown) => {
          this.queuePromise = undefined;
          if (this.queue === q) this.queue = undefined;
          q.close().catch(() => undefined);
          throw err;
        },
      );
    }
    return this.queuePromise;
  }

  private async reconcileDepth(): Promise<void> {
    try {
      const q = await this.getQueue();
      const counts = await q.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
      if (Object.values(counts).every((n) => n === 0)) await this.shared.producer.set(this.depthKey, 0);
      await this.refreshDepth();
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'outbox depth not reconciled');
    }
  }

  private async refreshDepth(): Promise<void> {
    const v = Number(await this.shared.producer.get(this.depthKey));
    this.depth = Number.isFinite(v) && v > 0 ? v : 0;
  }

  private async store(batches: Message[][]): Promise<void> {
    const q = await this.getQueue();
    try {
      await addJobs(q, batches);
    } catch (err) {
      // A value JSON can not carry (BigInt, a cycle) would make every retry fail: dead-letter those
      // messages, store the rest.
      if (!(err instanceof TypeError || err instanceof RangeError)) throw err;
      const bad: Message[] = [];
      const kept = batches
        .map((b) => b.filter((m) => storable(m) || (bad.push(m), false)))
        .filter((b) => b.length > 0);
      if (bad.length === 0) throw err;
      await this.deadLetterUnstorable(bad, err.message);
      if (kept.length > 0) await addJobs(q, kept);
      batches = kept;
    }
    let n = 0;
    for (const b of batches) {
      n += b.length;
      // Stored as the job's text: the batch's array is not read again. A batch open for maxWait is
      // often promoted with its array while the messages pushed later are young; that old array,
      // garbage but collected only by the next full GC, would keep them alive through every
      // scavenge until then (issue 17).
      b.length = 0;
    }
    this.addDepth(n);
  }

  private async deadLetterUnstorable(messages: Message[], error: string): Promise<void> {
    const { pipeline, sink, events } = this.options;
    const reason = `message can not be stored as JSON: ${error}`;
    const time = Date.now();
    await this.shared.deadLetters.add(
      messages.map((m) => ({
        pipeline,
        stage: sink,
        sink,
        reason,
        // Kept readable for `passerelle dlq show`; the original value can not be stored as is.
        message: {
          id: m.id,
          payload: inspect(m.payload, { depth: 6 }),
          meta: storableMeta(m.meta),
          time: m.time,
        },
        time,
        attempts: 0,
      })),
    );
    events?.deadLettered?.(messages.length, reason);
  }

  private addDepth(n: number): void {
    this.depth = Math.max(0, this.depth + n);
    if (n < 0) this.batcher.notify();
    this.shared.producer.incrby(this.depthKey, n).then(
      (v) => {
        this.depth = Math.max(0, v);
        if (n < 0) this.batcher.notify();
      },
      (err: unknown) => this.logger.debug({ err: (err as Error).message }, 'outbox depth not updated'),
    );
  }

  flushOpen(withinMs?: number): void {
    this.batcher.flushOpen(withinMs);
  }

  enqueue(messages: Message[]): Promise<void> {
    return this.batcher.enqueue(messages);
  }

  start(handler: JobHandler): void {
    if (this.worker || this.closing) return;
    const lock = this.shared.lockDurationMs;
    // Opened with the first worker: a process that only reads the dead letters never needs it.
    if (this.shared.workers.status === 'wait') this.shared.workers.connect().catch(() => undefined);
    const worker = new Worker(this.name, (job: Job, token?: string) => this.process(handler, job, token), {
      // The shared command connection; BullMQ duplicates it for this worker's blocking fetch.
      connection: this.shared.workers,
      prefix: this.shared.prefix,
      concurrency: this.options.concurrency,
      lockDuration: lock,
      stalledInterval: lock,
      // A stalled job goes back to wait however often it stalls: failing it would lose it.
      maxStalledCount: 1_000_000,
      runRetryDelay: Math.min(15_000, lock),
      // Fetching starts only while the sink is connected (see applyRunState).
      autorun: false,
    });
    worker.on('error', (err) => this.logger.warn({ err: err.message }, 'outbox worker error'));
    this.worker = worker;
    if (this.options.owner) void this.takeBackJobs(worker.id, this.options.owner);
    this.applyRunState();
    // BullMQ's pause/resume can race (a resume while the paused loop winds down leaves it stopped):
    // a cheap local check puts the worker back in the state it should be in.
    this.watchdog = setInterval(() => this.applyRunState(), 1_000);
    this.watchdog.unref();
  }

  /**
   * The jobs an earlier life of this process (same owner: killed, then restarted) left active stay
   * locked until their lock expires (`lockDurationMs`, 30 s by default). Their lock values are
   * `<worker id>:<n>`, and we remember the worker ids of this owner: the locks of those workers are
   * ours, so their jobs go back to the head of the wait list at once. A second live process with the
   * same owner (a configuration error) loses its active jobs this way: they are written again
   * (duplicates, never losses).
   */
  private async takeBackJobs(workerId: string, owner: string): Promise<void> {
    const producer = this.shared.producer;
    const key = `${this.shared.prefix}:workers:${this.name}:${owner}`;
    try {
      const earlier = await producer.lrange(key, 0, -1);
      await producer
        .multi()
        .lpush(key, workerId)
        .ltrim(key, 0, 7)
        .pexpire(key, 7 * 86_400_000)
        .exec();
      if (earlier.length === 0) return;
      const q = await this.getQueue();
      let taken = 0;
      for (const job of await q.getJobs(['active'])) {
        if (!job.id) continue;
        const lock = await producer.get(`${q.toKey(job.id)}:lock`);
        if (!lock || !earlier.some((id) => lock.startsWith(`${id}:`))) continue;
        try {
          await job.moveToWait(lock);
          taken++;
        } catch (err) {
          // Finished or released meanwhile.
          this.logger.debug({ job: job.id, err: (err as Error).message }, 'outbox job not taken back');
        }
      }
      if (taken > 0)
        this.logger.warn(
          { jobs: taken, owner },
          'outbox: took back the jobs an earlier process with the same identity left locked',
        );
    } catch (err) {
      this.logger.warn(
        { err: (err as Error).message },
        'outbox: could not look for jobs left locked by an earlier process; their locks will expire',
      );
    }
  }

  /** This replica's worker takes jobs only while its sink is connected, not stopped and not suspended. */
  private shouldFetch(): boolean {
    return this.connected && !this.stopped && !this.suspension && !this.closing;
  }

  private applyRunState(): void {
    const worker = this.worker;
    if (!worker || this.closing) return;
    if (this.shouldFetch()) {
      if (worker.isPaused()) void worker.resume();
      else if (!worker.isRunning())
        worker.run().catch((err: Error) => this.logger.warn({ err: err.message }, 'outbox worker stopped'));
    } else if (!worker.isPaused()) {
      // Jobs already taken finish (or come back); no new one is fetched.
      void worker.pause(true);
    }
  }

  setConnected(connected: boolean): void {
    if (connected === this.connected) return;
    this.connected = connected;
    if (connected) {
      this.connections++;
      this.conn.reset();
      clearTimeout(this.suspension);
      this.suspension = undefined;
    }
    this.applyRunState();
  }

  private suspend(ms: number): void {
    clearTimeout(this.suspension);
    this.suspension = setTimeout(() => {
      this.suspension = undefined;
      this.applyRunState();
    }, ms);
    this.suspension.unref();
    this.applyRunState();
  }

  private async process(handler: JobHandler, job: Job, token: string | undefined): Promise<void> {
    if (!this.shouldFetch()) {
      // Taken just as fetching stopped (a blocking fetch returns after the pause): put it back
      // untouched, at the head of the line, for whichever replica can write it.
      await job.moveToWait(token);
      throw new WaitingError();
    }
    const connections = this.connections;
    // No local for the data: a suspended async function keeps its locals.
    const attempt = (job.data as JobData).a;
    const messages = decodeJob(job.data as JobData);
    // The job lives until its messages are written (PUBACKs and all); its parsed records, tables and
    // texts shared with the messages aside, are not read again: let them die young (issue 17: they
    // lived through the write's scavenges). BullMQ reads `data` only to add a job, never to finish one.
    job.data = { a: attempt };
    const ac = new AbortController();
    const key = job.id ?? token ?? String(Math.random());
    this.active.set(key, ac);
    let outcome: Outcome;
    try {
      outcome = await runAttempt(handler, messages, attempt, this.options.retry, this.conn, ac.signal);
    } finally {
      this.active.delete(key);
    }
    const { pipeline, sink, events } = this.options;
    if (outcome.dead.length > 0) {
      const time = Date.now();
      await this.shared.deadLetters.add(
        outcome.dead.flatMap((d) =>
          d.messages.map((message) => ({
            pipeline,
            stage: sink,
            sink,
            reason: d.reason,
            message,
            time,
            attempts: d.attempts,
          })),
        ),
      );
    }
    const retry = outcome.retry;
    if (retry && (retry.messages.length !== messages.length || retry.attempt !== attempt)) {
      await job.updateData(encodeJob(retry.messages, retry.attempt));
    }
    let settled = outcome.delivered;
    for (const d of outcome.dead) settled += d.messages.length;
    if (settled > 0) this.addDepth(-settled);
    if (outcome.delivered > 0) events?.delivered?.(outcome.delivered);
    for (const d of outcome.dead) events?.deadLettered?.(d.messages.length, d.reason);
    if (!retry) return;
    if (outcome.stopped) {
      const was = this.stopped;
      this.stopped = true;
      // Stop fetching first, so the job put back is not taken again at once.
      this.applyRunState();
      await job.moveToWait(token);
      if (!was) events?.stopped?.(outcome.stopped);
      throw new WaitingError();
    }
    if (retry.notConnected) {
      // Never a delayed job: it goes back to the head of the line, where a replica whose sink is
      // connected takes it at once; this replica fetches again when its sink connects.
      if (this.connected && this.connections === connections) {
        // The sink still says connected (its state lags): this replica backs off unless it reconnects.
        this.suspend(retry.delayMs);
        events?.retrying?.(retry.error, attempt, retry.delayMs);
      } else {
        events?.waiting?.(retry.error);
      }
      await job.moveToWait(token);
      throw new WaitingError();
    }
    await job.moveToDelayed(Date.now() + retry.delayMs, token);
    events?.retrying?.(retry.error, attempt, retry.delayMs);
    throw new DelayedError();
  }

  resume(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.applyRunState();
  }

  async stats(): Promise<OutboxStats> {
    await this.refreshDepth();
    return { depth: this.depth, activeJobs: this.active.size };
  }

  async close(deadlineMs: number): Promise<void> {
    if (this.closing) return;
    await this.batcher.close();
    this.closing = true;
    clearInterval(this.watchdog);
    clearTimeout(this.suspension);
    const worker = this.worker;
    if (worker) {
      await worker.pause(true).catch(() => undefined);
      const deadline = Date.now() + deadlineMs;
      while (this.active.size > 0 && Date.now() < deadline) await sleep(Math.min(20, deadline - Date.now()));
      const force = this.active.size > 0;
      // Jobs still running lose their lock and come back as stalled on another worker or at the next start.
      for (const ac of this.active.values()) ac.abort(new Error('outbox closing'));
      await withTimeout(worker.close(force), force ? 2000 : Math.max(2000, deadlineMs)).catch(
        (err: unknown) =>
          this.logger.warn({ err: (err as Error).message }, 'outbox worker did not close cleanly'),
      );
    }
    this.closed = true;
    const q = this.queue;
    this.queue = undefined;
    if (q) await withTimeout(q.close(), 2000).catch(() => undefined);
  }
}

function addJobs(q: Queue, batches: Message[][]): Promise<unknown> {
  if (batches.length === 1) return q.add('batch', encodeJob(batches[0] as Message[], 1));
  return q.addBulk(batches.map((b) => ({ name: 'batch', data: encodeJob(b, 1) })));
}

function storable(m: Message): boolean {
  try {
    JSON.stringify(encodeMessage(m));
    return true;
  } catch {
    return false;
  }
}

function storableMeta(meta: Record<string, unknown>): Record<string, unknown> {
  try {
    JSON.stringify(encodeValue(meta));
    return meta;
  } catch {
    return { unstorable: inspect(meta, { depth: 4 }) };
  }
}

/** `worker.close()` has no timeout of its own. */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export interface RedisBackendOptions {
  url: string;
  retention: DeadLetterRetention;
  /** Job lock; a job whose worker died comes back after about this long (default 30 s). */
  lockDurationMs?: number;
  logger?: Logger;
  /** Key prefix for the BullMQ queues, dead letters and counters (default `passerelle`). */
  prefix?: string;
  /** How long to wait for Redis at start before giving up (default 10 s). */
  connectTimeoutMs?: number;
  /** Enqueue and dead-letter commands fail after this long without an answer (default 10 s). */
  commandTimeoutMs?: number;
}

function waitReady(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return withTimeout(new Promise<void>((resolve) => redis.once('ready', () => resolve())), ms);
}

/** Connects to Redis and returns the backend; rejects if Redis is not reachable in time. */
export async function createRedisBackend(options: RedisBackendOptions): Promise<OutboxBackend> {
  const logger = options.logger ?? silentLogger;
  const prefix = options.prefix ?? 'passerelle';
  // Fail fast: an enqueue while Redis is down must reject so the source is not acknowledged.
  // The timeout covers a connection that hangs rather than drops.
  const producer = new Redis(options.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs ?? 10_000,
  });
  let lastError: string | undefined;
  producer.on('error', (err: Error) => {
    lastError = err.message;
    logger.warn({ err: err.message }, 'redis connection error');
  });
  producer.on('ready', () => (lastError = undefined));
  try {
    await waitReady(producer, options.connectTimeoutMs ?? 10_000);
  } catch (err) {
    producer.disconnect();
    throw new Error(`Redis at ${redactUrl(options.url)} is not reachable: ${(err as Error).message}`);
  }
  const deadLetters = new RedisDeadLetters(producer, options.retention, { prefix, logger });
  // Connections per process: this producer (enqueue, dead letters, depth counters: fails fast so an
  // enqueue during an outage rejects and the source is not acknowledged), one command connection
  // shared by every worker (lock renewals, moving jobs: retried across an outage, as BullMQ
  // requires), and one blocking connection per worker, which BullMQ needs to itself: its blocking
  // fetch (BZPOPMIN) holds the connection while it waits. Leases keep their own connection so a
  // renewal never waits behind a large enqueue.
  const workers = new Redis(options.url, { maxRetriesPerRequest: null, lazyConnect: true });
  workers.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis connection error (workers)'));
  const shared: BullmqShared = {
    url: options.url,
    producer,
    workers,
    deadLetters,
    prefix,
    lockDurationMs: options.lockDurationMs ?? 30_000,
    logger,
  };
  const outboxes = new Set<BullmqOutbox>();
  const replicaKey = (replica: string): string => `${prefix}:replica:${replica}`;
  const replicaIndex = `${prefix}:replicas`;
  return {
    kind: 'redis',
    deadLetters,
    health: () => ({
      // ioredis: connecting, connect, ready, reconnecting, close, end.
      state: producer.status === 'ready' ? 'connected' : producer.status,
      ...(lastError && producer.status !== 'ready' ? { error: redact(lastError) } : {}),
    }),
    replicas: {
      async publish(replica, snapshot, ttlMs) {
        const now = Date.now();
        // The index forgets replicas silent for 10 TTLs; the snapshots expire on their own.
        await producer
          .multi()
          .set(replicaKey(replica), snapshot, 'PX', ttlMs)
          .zadd(replicaIndex, now, replica)
          .zremrangebyscore(replicaIndex, 0, now - 10 * ttlMs)
          .exec();
      },
      async list() {
        const names = await producer.zrevrange(replicaIndex, 0, 99);
        if (names.length === 0) return [];
        const values = await producer.mget(...names.map(replicaKey));
        return values.filter((v): v is string => typeof v === 'string');
      },
    },
    createOutbox(outboxOptions: OutboxOptions): Outbox {
      const outbox = new BullmqOutbox(outboxOptions, shared);
      outboxes.add(outbox);
      return outbox;
    },
    async close(): Promise<void> {
      await Promise.all([...outboxes].map((o) => o.close(0)));
      deadLetters.close();
      await producer.quit().catch(() => producer.disconnect());
      if (workers.status === 'wait') workers.disconnect();
      else await workers.quit().catch(() => workers.disconnect());
    },
  };
}
