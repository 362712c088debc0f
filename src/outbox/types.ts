import type { Message } from '../sdk/index.js';

/**
 * The outbox: one per sink of a pipeline. The engine enqueues the messages a sink must receive;
 * `enqueue()` resolves once they are stored (in Redis for the BullMQ outbox), and only then is the
 * source acknowledged. Workers take jobs (one job = one batch) and call the sink.
 */
export interface BatchPolicy {
  /** Messages per job, at most. */
  count: number;
  /** Approximate bytes of payload per job, at most. */
  bytes: number;
  /** How long the first message of a batch waits for more before the job is stored. */
  maxWaitMs: number;
}

export interface RetryPolicy {
  /** Attempts for transient errors (RetryableError, unknown errors) before the batch is dead-lettered. */
  attempts: number;
  /** First backoff; doubles each attempt, with full jitter, up to maxDelayMs. */
  initialDelayMs: number;
  maxDelayMs: number;
}

export interface OutboxOptions {
  pipeline: string;
  /** The sink's name, unique within its pipeline; with the pipeline it names the queue. */
  sink: string;
  batch: BatchPolicy;
  retry: RetryPolicy;
  /** Messages stored and not yet settled, at most: past it `enqueue()` waits (backpressure). */
  capacity: number;
  /** Jobs processed at once by this process. */
  concurrency: number;
  /**
   * Who runs this outbox across restarts (`<identity>/<pipeline>/<sink>`). With Redis, a process
   * started with the same owner takes back at once the jobs its earlier life left locked (killed in
   * the middle of a write), instead of waiting for their lock to expire.
   */
  owner?: string;
  events?: OutboxEvents;
}

export interface OutboxEvents {
  /** Messages written by the sink. */
  delivered?(count: number): void;
  /** Messages moved to the dead letters (with the reason). */
  deadLettered?(count: number, reason: string): void;
  /** A job attempt failed and will be retried after `delayMs`. */
  retrying?(error: Error, attempt: number, delayMs: number): void;
  /** A job attempt found the sink not connected: the job waits until it connects (no attempt used). */
  waiting?(error: Error): void;
  /** The sink threw SinkStoppedError: processing paused until `resume()`. */
  stopped?(error: Error): void;
  /**
   * Messages stored and never written, gone with the outbox (the memory outbox closed before it
   * could write its queue: sink down at stop or deadline passed). A Redis outbox keeps them.
   */
  lost?(count: number, reason: string): void;
}

export interface JobContext {
  /** 1 for the first attempt. */
  attempt: number;
  signal: AbortSignal;
}

/**
 * Writes one batch to the sink. Throws the SDK's errors: NotConnectedError (retried without using
 * up attempts), RetryableError (retried, honouring retryAfterMs), FatalError (dead-lettered at once),
 * BatchError (good messages settled, the failed ones retried or dead-lettered), SinkStoppedError
 * (processing pauses, the job is kept).
 */
export type JobHandler = (messages: Message[], ctx: JobContext) => Promise<void>;

export interface OutboxStats {
  /** Messages stored and not yet settled (waiting, delayed or active). */
  depth: number;
  /** Jobs being written right now. */
  activeJobs: number;
}

export interface Outbox {
  enqueue(messages: Message[]): Promise<void>;
  /**
   * Stores the batch being filled now, without waiting for its count, bytes or maxWait: the engine
   * calls it when nothing more can come until the messages already enqueued are stored. With
   * `withinMs` (the source expects nothing for that long), only when the batch's maxWait ends
   * within that time: nothing can join it before it would be stored anyway, while a batch with a
   * longer wait (a sink with quotas) goes on filling from the next bursts.
   */
  flushOpen(withinMs?: number): void;
  start(handler: JobHandler): void;
  /** Resumes after a SinkStoppedError. */
  resume(): void;
  /**
   * The sink's connection state, as it reports it (the engine calls this on every change; an outbox
   * starts connected). While not connected no job is started here, and a job that meets
   * NotConnectedError waits without using an attempt; when it connects again, waiting jobs, and
   * jobs in backoff after NotConnectedError, run at once.
   */
  setConnected(connected: boolean): void;
  stats(): Promise<OutboxStats>;
  /** Stops taking jobs, waits for active ones up to the deadline, then closes. Stored jobs stay stored. */
  close(deadlineMs: number): Promise<void>;
}

export interface DeadLetter {
  id: string;
  pipeline: string;
  /** Where it failed: `source`, `transforms[1]`, or a sink's name. */
  stage: string;
  /** The sink name when the stage is a sink, so a replay goes back to that sink only. */
  sink?: string;
  reason: string;
  message: Message;
  /** When it was dead-lettered (ms since the epoch). */
  time: number;
  attempts: number;
  /**
   * Set when `message.payload` is not the payload as it came (too large, or nested too deep): it
   * then holds the first `kept` bytes of the payload's bytes, UTF-8 text or JSON (`form`).
   * Such a dead letter cannot be replayed.
   */
  stored?: StoredPayload;
}

export interface StoredPayload {
  /** What was measured and kept: the raw bytes, the UTF-8 of a string, or the JSON of a value (as the outbox stores it). */
  form: 'bytes' | 'text' | 'json';
  /** Bytes of the whole payload in that form. */
  size: number;
  /** SHA-256 (hex) of the whole payload in that form. */
  sha256: string;
  /** Bytes kept in `message.payload`. */
  kept: number;
  /** True when only a prefix is kept (`kept < size`). */
  truncated: boolean;
}

export interface ReplayRequest {
  /** Entries found and marked for replay (an entry already marked counts, and is replayed once). */
  marked: number;
  /** Entries that exist but cannot be replayed, with the reason (their payload is not the original). */
  refused: { id: string; reason: string }[];
}

export interface DeadLetterFilter {
  pipeline?: string;
  stage?: string;
  /** Substring of the reason, case-insensitive. */
  reason?: string;
  limit?: number;
  offset?: number;
  /** List the newest first (the default order is oldest first). */
  newestFirst?: boolean;
}

export interface DeadLetterStore {
  add(entries: Omit<DeadLetter, 'id'>[]): Promise<void>;
  list(filter?: DeadLetterFilter): Promise<DeadLetter[]>;
  count(filter?: DeadLetterFilter): Promise<number>;
  get(id: string): Promise<DeadLetter | undefined>;
  /** Ids that start with `prefix` (at most `max`): a command line accepts a unique prefix of an id. */
  idsStartingWith(prefix: string, max: number): Promise<string[]>;
  /** Deletes entries; returns how many existed. */
  remove(ids: string[]): Promise<number>;
  /**
   * Marks entries for re-drive; the running service of their pipeline claims and re-injects them.
   * Entries whose payload is not kept whole (`stored`) are refused, with the reason.
   */
  requestReplay(ids: string[]): Promise<ReplayRequest>;
  /**
   * Takes up to `max` entries marked for replay of one pipeline. The caller calls `done(ids)` once
   * they are re-injected; entries claimed and never done return to the replay list at the next start.
   */
  claimReplays(pipeline: string, max: number): Promise<DeadLetter[]>;
  /** The claimed entries were re-injected: they leave the dead letters. */
  replayDone(pipeline: string, ids: string[]): Promise<void>;
  /**
   * Applies the retention now (it also runs on every add and on a timer); returns how many entries
   * were removed. Optional so other stores need not offer it.
   */
  trim?(): Promise<number>;
}

export type TrimCause = 'maxAge' | 'maxCount' | 'maxBytes';

export interface DeadLetterRetention {
  /** Entries older than this are removed (counted and logged, never silently). */
  maxAgeMs: number;
  /** Past this many entries per pipeline, the oldest are removed (counted and logged). */
  maxCount: number;
  /** Payload bytes kept whole per entry; a larger payload keeps this many first bytes, its size and SHA-256. Default 64 KiB. */
  maxMessageBytes?: number;
  /** Stored bytes per pipeline (entries' JSON); past it the oldest are removed (counted and logged). Default 64 MiB. */
  maxBytes?: number;
  /** Told of every trim, so the runtime can count it (a metric); the store also logs it. */
  onTrimmed?(pipeline: string, count: number, cause: TrimCause): void;
}

/** Creates outboxes and the dead-letter store of one backend (memory or Redis). */
export interface OutboxBackend {
  kind: 'memory' | 'redis';
  createOutbox(options: OutboxOptions): Outbox;
  deadLetters: DeadLetterStore;
  close(): Promise<void>;
  /** The connection to Redis as the status page shows it (absent for the memory backend). */
  health?(): { state: string; error?: string };
  /** Where replicas share what their status pages show (absent for the memory backend). */
  replicas?: ReplicaBoard;
}

/** Each replica publishes a snapshot (JSON) that expires unless renewed; any replica lists them all. */
export interface ReplicaBoard {
  publish(replica: string, snapshot: string, ttlMs: number): Promise<void>;
  /** The live snapshots (at most 100 replicas). */
  list(): Promise<string[]>;
}
