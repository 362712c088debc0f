import {
  messageSize,
  nodeCrypto,
  redact,
  silentLogger,
  type Logger,
  type MemoryBudget,
  type Message,
} from '../sdk/index.js';
import { Batcher } from './batcher.js';
import {
  budgetEntry,
  messageBytesOf,
  replayRefusal,
  storedSize,
  totalBytesOf,
  withId,
} from './dead-letter-budget.js';
import { ConnectionBackoff, runAttempt } from './policy.js';
import type {
  DeadLetter,
  DeadLetterFilter,
  DeadLetterRetention,
  DeadLetterStore,
  JobHandler,
  Outbox,
  OutboxBackend,
  OutboxOptions,
  OutboxStats,
  ReplayRequest,
  TrimCause,
} from './types.js';

export function matchesFilter(e: DeadLetter, filter: DeadLetterFilter | undefined): boolean {
  if (!filter) return true;
  if (filter.pipeline !== undefined && e.pipeline !== filter.pipeline) return false;
  if (filter.stage !== undefined && e.stage !== filter.stage) return false;
  if (filter.reason !== undefined && !e.reason.toLowerCase().includes(filter.reason.toLowerCase()))
    return false;
  return true;
}

export function page<T>(list: T[], filter: DeadLetterFilter | undefined): T[] {
  const offset = filter?.offset ?? 0;
  const end = filter?.limit === undefined ? undefined : offset + filter.limit;
  return list.slice(offset, end);
}

/** Dead letters in this process only: lost when it ends. Listed oldest first. */
export class MemoryDeadLetters implements DeadLetterStore {
  private readonly entries = new Map<string, DeadLetter>();
  /** Per entry, the size of its JSON form (what the Redis store would hold), and the sums per pipeline. */
  private readonly sizes = new Map<string, number>();
  private readonly bytes = new Map<string, number>();
  /** Per pipeline, sorted by time. */
  private readonly byPipeline = new Map<string, DeadLetter[]>();
  private readonly replayQueue = new Map<string, string[]>();
  private readonly processing = new Map<string, Set<string>>();
  private readonly marked = new Set<string>();
  private readonly recovered = new Set<string>();
  /** Entries removed by the retention so far. */
  trimmedTotal = 0;

  constructor(
    private readonly retention: DeadLetterRetention,
    private readonly logger: Logger = silentLogger,
  ) {}

  async add(entries: Omit<DeadLetter, 'id'>[]): Promise<void> {
    const touched = new Set<string>();
    const maxMessageBytes = messageBytesOf(this.retention);
    for (const e of entries) {
      const budgeted = budgetEntry({ ...e, reason: redact(e.reason) }, maxMessageBytes);
      const entry: DeadLetter = { ...budgeted.entry, id: nodeCrypto().randomUUID() };
      const size = storedSize(withId(budgeted.json, entry.id));
      this.entries.set(entry.id, entry);
      this.sizes.set(entry.id, size);
      this.bytes.set(entry.pipeline, (this.bytes.get(entry.pipeline) ?? 0) + size);
      let list = this.byPipeline.get(entry.pipeline);
      if (!list) this.byPipeline.set(entry.pipeline, (list = []));
      // Usually appended; out-of-order times are inserted in place.
      let i = list.length;
      while (i > 0 && (list[i - 1] as DeadLetter).time > entry.time) i--;
      list.splice(i, 0, entry);
      touched.add(entry.pipeline);
    }
    for (const p of touched) this.trimPipeline(p, Date.now());
  }

  async trim(): Promise<number> {
    let n = 0;
    const now = Date.now();
    for (const p of this.byPipeline.keys()) n += this.trimPipeline(p, now);
    return n;
  }

  private trimPipeline(pipeline: string, now: number): number {
    const list = this.byPipeline.get(pipeline);
    if (!list) return 0;
    const cutoff = now - this.retention.maxAgeMs;
    let old = 0;
    while (old < list.length && (list[old] as DeadLetter).time < cutoff) old++;
    const over = Math.max(0, list.length - old - this.retention.maxCount);
    for (const e of list.splice(0, old + over)) this.forget(e.id);
    // Then the byte budget, oldest first.
    const maxBytes = totalBytesOf(this.retention);
    let heavy = 0;
    while (list.length > 0 && (this.bytes.get(pipeline) ?? 0) > maxBytes) {
      this.forget((list.shift() as DeadLetter).id);
      heavy++;
    }
    if (list.length === 0) this.byPipeline.delete(pipeline);
    this.reportTrim(pipeline, old, 'maxAge');
    this.reportTrim(pipeline, over, 'maxCount');
    this.reportTrim(pipeline, heavy, 'maxBytes');
    return old + over + heavy;
  }

  private reportTrim(pipeline: string, count: number, cause: TrimCause): void {
    if (count === 0) return;
    this.trimmedTotal += count;
    this.logger.warn({ pipeline, count, cause }, 'dead letters removed by the retention');
    this.retention.onTrimmed?.(pipeline, count, cause);
  }

  private forget(id: string): void {
    const entry = this.entries.get(id);
    if (entry) {
      const left = (this.bytes.get(entry.pipeline) ?? 0) - (this.sizes.get(id) ?? 0);
      if (left > 0) this.bytes.set(entry.pipeline, left);
      else this.bytes.delete(entry.pipeline);
    }
    this.sizes.delete(id);
    this.entries.delete(id);
    this.marked.delete(id);
  }

  private all(pipeline: string | undefined): DeadLetter[] {
    if (pipeline !== undefined) return this.byPipeline.get(pipeline) ?? [];
    if (this.byPipeline.size === 1) return [...this.byPipeline.values()][0] as DeadLetter[];
    return [...this.byPipeline.values()].flat().sort((a, b) => a.time - b.time);
  }

  async list(filter?: DeadLetterFilter): Promise<DeadLetter[]> {
    const matching = this.all(filter?.pipeline).filter((e) => matchesFilter(e, filter));
    return page(filter?.newestFirst ? matching.reverse() : matching, filter);
  }

  async idsStartingWith(prefix: string, max: number): Promise<string[]> {
    const out: string[] = [];
    for (const id of this.entries.keys()) {
      if (out.length >= max) break;
      if (id.startsWith(prefix)) out.push(id);
    }
    return out;
  }

  async count(filter?: DeadLetterFilter): Promise<number> {
    return this.all(filter?.pipeline).filter((e) => matchesFilter(e, filter)).length;
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    return this.entries.get(id);
  }

  async remove(ids: string[]): Promise<number> {
    const gone = new Set<string>();
    for (const id of ids) {
      const e = this.entries.get(id);
      if (!e) continue;
      gone.add(id);
      this.forget(id);
    }
    if (gone.size === 0) return 0;
    for (const [p, list] of this.byPipeline) {
      const kept = list.filter((e) => !gone.has(e.id));
      if (kept.length === 0) this.byPipeline.delete(p);
      else this.byPipeline.set(p, kept);
    }
    return gone.size;
  }

  async requestReplay(ids: string[]): Promise<ReplayRequest> {
    let n = 0;
    const refused: ReplayRequest['refused'] = [];
    for (const id of ids) {
      const e = this.entries.get(id);
      if (!e) continue;
      const refusal = replayRefusal(e);
      if (refusal) {
        refused.push({ id, reason: refusal });
        continue;
      }
      n++;
      if (this.marked.has(id)) continue;
      this.marked.add(id);
      let q = this.replayQueue.get(e.pipeline);
      if (!q) this.replayQueue.set(e.pipeline, (q = []));
      q.push(id);
    }
    return { marked: n, refused };
  }

  async claimReplays(pipeline: string, max: number): Promise<DeadLetter[]> {
    let q = this.replayQueue.get(pipeline);
    if (!q) this.replayQueue.set(pipeline, (q = []));
    let busy = this.processing.get(pipeline);
    if (!busy) this.processing.set(pipeline, (busy = new Set()));
    if (!this.recovered.has(pipeline)) {
      // Same rule as the Redis store: claims never done return at the first claim of a new run.
      this.recovered.add(pipeline);
      q.unshift(...busy);
      busy.clear();
    }
    const out: DeadLetter[] = [];
    while (out.length < max && q.length > 0) {
      const id = q.shift() as string;
      const e = this.entries.get(id);
      if (!e) continue;
      busy.add(id);
      out.push(e);
    }
    return out;
  }

  async replayDone(pipeline: string, ids: string[]): Promise<void> {
    const busy = this.processing.get(pipeline);
    for (const id of ids) busy?.delete(id);
    await this.remove(ids);
  }
}

interface MemoryJob {
  messages: Message[];
  attempt: number;
  /** Counted in the memory budget until its messages settle. */
  bytes: number;
}

function sizeOf(messages: Message[]): number {
  let bytes = 0;
  for (const m of messages) {
    try {
      bytes += messageSize(m);
    } catch {
      bytes += 64;
    }
  }
  return bytes;
}

/** The outbox within one process: same semantics as the BullMQ one, lost on a crash. */
export class MemoryOutbox implements Outbox {
  private readonly ready: MemoryJob[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly active = new Map<MemoryJob, AbortController>();
  private readonly batcher: Batcher;
  private readonly conn: ConnectionBackoff;
  private handler: JobHandler | undefined;
  /** Jobs in backoff after NotConnectedError: they run at once when the sink connects again. */
  private readonly parked = new Map<MemoryJob, NodeJS.Timeout>();
  private depth = 0;
  /** Bytes of the jobs held, counted in the budget. */
  private held = 0;
  private paused = false;
  private connected = true;
  /** Counts the sink's connections, so an attempt can tell whether it reconnected meanwhile. */
  private connections = 0;
  private closing = false;
  private idle: (() => void) | undefined;

  constructor(
    private readonly options: OutboxOptions,
    private readonly deadLetters: DeadLetterStore,
    private readonly logger: Logger = silentLogger,
    /** The process's memory budget: what this outbox holds counts until it is written. */
    private readonly budget?: MemoryBudget,
  ) {
    this.conn = new ConnectionBackoff(options.retry);
    this.batcher = new Batcher(
      options.batch,
      options.capacity,
      () => this.depth,
      async (batches, bytes) => {
        for (let i = 0; i < batches.length; i++) {
          const messages = batches[i] as Message[];
          const size = bytes[i] as number;
          this.depth += messages.length;
          this.held += size;
          this.budget?.take(size);
          this.ready.push({ messages, attempt: 1, bytes: size });
        }
        this.pump();
      },
      `outbox ${options.pipeline}/${options.sink}`,
    );
  }

  flushOpen(withinMs?: number): void {
    this.batcher.flushOpen(withinMs);
  }

  enqueue(messages: Message[]): Promise<void> {
    return this.batcher.enqueue(messages);
  }

  private release(bytes: number): void {
    // A job still running when the outbox closed was released with it.
    bytes = Math.min(bytes, this.held);
    if (bytes <= 0) return;
    this.held -= bytes;
    this.budget?.give(bytes);
  }

  start(handler: JobHandler): void {
    this.handler = handler;
    this.pump();
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  setConnected(connected: boolean): void {
    if (connected === this.connected) return;
    this.connected = connected;
    if (!connected) return;
    this.connections++;
    this.conn.reset();
    // Jobs in backoff because the sink was down go first, in the order they failed.
    const parked = [...this.parked.keys()];
    for (const timer of this.parked.values()) clearTimeout(timer);
    this.parked.clear();
    this.ready.unshift(...parked);
    this.pump();
  }

  async stats(): Promise<OutboxStats> {
    return { depth: this.depth, activeJobs: this.active.size };
  }

  private pump(): void {
    const handler = this.handler;
    if (!handler) return;
    while (
      !this.paused &&
      this.connected &&
      !this.closing &&
      this.active.size < this.options.concurrency &&
      this.ready.length > 0
    ) {
      const job = this.nextJob();
      const ac = new AbortController();
      this.active.set(job, ac);
      void this.run(handler, job, ac)
        .catch((err: unknown) => this.logger.error({ err }, 'outbox job failed unexpectedly'))
        .finally(() => {
          this.active.delete(job);
          this.pump();
          // Idle: nothing more could start (queue empty, or the sink paused or disconnected).
          if (this.active.size === 0) this.idle?.();
        });
    }
  }

  /**
   * The job at the head of the line, with the new jobs queued behind it merged in, in order, up to
   * the batch policy. Jobs are sealed early when the source's window is full (1,000 messages for
   * MQTT) so that its acknowledgements can leave; when the sink writes slower than that, they queue
   * up, and one write per small job paid a round trip each (InfluxDB: 1,000 points per request, not
   * the 5,000 the batch allows). A job that was attempted already is never merged: its attempts
   * count on.
   */
  private nextJob(): MemoryJob {
    const head = this.ready.shift() as MemoryJob;
    if (head.attempt !== 1) return head;
    const { count, bytes } = this.options.batch;
    // Never-attempted jobs queued behind join it up to the batch policy; an attempted one keeps
    // its own count of attempts, so it neither joins nor is joined.
    const joins = (job: MemoryJob | undefined, n: number, size: number): job is MemoryJob =>
      job !== undefined && job.attempt === 1 && n + job.messages.length <= count && size + job.bytes <= bytes;
    if (!joins(this.ready[0], head.messages.length, head.bytes)) return head;
    const messages = [...head.messages];
    let size = head.bytes;
    for (let job = this.ready[0]; joins(job, messages.length, size); job = this.ready[0]) {
      this.ready.shift();
      for (const m of job.messages) messages.push(m);
      size += job.bytes;
    }
    return { messages, attempt: 1, bytes: size };
  }

  private async run(handler: JobHandler, job: MemoryJob, ac: AbortController): Promise<void> {
    const { options } = this;
    const events = options.events;
    const connections = this.connections;
    const outcome = await runAttempt(handler, job.messages, job.attempt, options.retry, this.conn, ac.signal);
    let settled = outcome.delivered;
    if (outcome.dead.length > 0) {
      const time = Date.now();
      const entries = outcome.dead.flatMap((d) =>
        d.messages.map((message) => ({
          pipeline: options.pipeline,
          stage: options.sink,
          sink: options.sink,
          reason: d.reason,
          message,
          time,
          attempts: d.attempts,
        })),
      );
      await this.deadLetters.add(entries);
      for (const d of outcome.dead) {
        settled += d.messages.length;
        events?.deadLettered?.(d.messages.length, d.reason);
      }
    }
    if (outcome.delivered > 0) events?.delivered?.(outcome.delivered);
    this.depth -= settled;
    const retry = outcome.retry;
    // What settled leaves the budget; a retried part keeps its own bytes counted.
    const kept = !retry
      ? 0
      : retry.messages.length === job.messages.length
        ? job.bytes
        : sizeOf(retry.messages);
    if (job.bytes - kept > 0) this.release(job.bytes - kept);
    if (retry) {
      const next: MemoryJob = { messages: retry.messages, attempt: retry.attempt, bytes: kept };
      if (outcome.stopped) {
        const was = this.paused;
        this.paused = true;
        this.ready.unshift(next);
        if (!was) events?.stopped?.(outcome.stopped);
      } else if (retry.notConnected && (!this.connected || this.connections !== connections)) {
        // Not connected: it waits at the head of the line and runs when the sink connects (at once
        // if it already connected again while this attempt ran).
        this.ready.unshift(next);
        events?.waiting?.(retry.error);
      } else if (retry.notConnected) {
        // The sink still claims to be connected: back off, unless it reconnects first.
        events?.retrying?.(retry.error, job.attempt, retry.delayMs);
        const t = setTimeout(() => {
          this.parked.delete(next);
          this.ready.unshift(next);
          this.pump();
        }, retry.delayMs);
        this.parked.set(next, t);
      } else {
        events?.retrying?.(retry.error, job.attempt, retry.delayMs);
        const t = setTimeout(() => {
          this.timers.delete(t);
          this.ready.push(next);
          this.pump();
        }, retry.delayMs);
        this.timers.add(t);
      }
    }
    if (settled > 0) this.batcher.notify();
  }

  async close(deadlineMs: number): Promise<void> {
    if (this.closing) return;
    await this.batcher.close();
    // The queue exists in this process only: a graceful stop writes it, not only the active job,
    // until it is empty or the deadline passes (a job waiting for a retry is not waited for).
    if (this.active.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (this.idle = resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs))),
      ]);
      clearTimeout(timer);
    }
    this.closing = true;
    for (const ac of this.active.values()) ac.abort(new Error('outbox closing'));
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const t of this.parked.values()) clearTimeout(t);
    this.parked.clear();
    // Lost with the outbox: the budget must not keep counting them (a reload would wedge the sources).
    if (this.held > 0) this.release(this.held);
    if (this.depth > 0) {
      this.logger.warn(
        { pipeline: this.options.pipeline, sink: this.options.sink, messages: this.depth },
        'memory outbox closed with messages not delivered: they are lost',
      );
      this.options.events?.lost?.(this.depth, 'memory outbox closed before writing them');
    }
  }
}

export interface MemoryBackendOptions {
  logger?: Logger;
  /** The process's memory budget: queued messages count until written (see MemoryBudget). */
  memoryBudget?: MemoryBudget;
}

export function createMemoryBackend(
  retention: DeadLetterRetention,
  options: MemoryBackendOptions = {},
): OutboxBackend {
  const logger = options.logger ?? silentLogger;
  logger.warn(
    { outbox: 'memory' },
    'no Redis configured (--redis or PASSERELLE_REDIS_URL): the outboxes are in memory, and messages in flight are lost if the process ends',
  );
  const deadLetters = new MemoryDeadLetters(retention, logger);
  const outboxes = new Set<MemoryOutbox>();
  return {
    kind: 'memory',
    deadLetters,
    createOutbox(outboxOptions: OutboxOptions): Outbox {
      const outbox = new MemoryOutbox(
        outboxOptions,
        deadLetters,
        logger.child({ sink: outboxOptions.sink }),
        options.memoryBudget,
      );
      outboxes.add(outbox);
      return outbox;
    },
    async close(): Promise<void> {
      await Promise.all([...outboxes].map((o) => o.close(0)));
    },
  };
}
