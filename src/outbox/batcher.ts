import { messageSize, type Message } from '../sdk/index.js';
import type { BatchPolicy } from './types.js';

/** Stores sealed batches, one job each (`bytes[i]`: the size of batch i); resolves once all are stored. */
export type StoreBatches = (batches: Message[][], bytes: number[]) => Promise<void>;

interface Batch {
  messages: Message[];
  bytes: number;
  /** When maxWait ends for this batch (Date.now() time). */
  due: number;
  done: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface RoomWaiter {
  messages: Message[];
  resolve: (p: Promise<void>) => void;
  reject: (error: unknown) => void;
}

/** messageSize throws on values JSON can not carry; the store decides what to do with those. */
function sizeOf(m: Message): number {
  try {
    return messageSize(m);
  } catch {
    return 64;
  }
}

// Internal: refuses the pipeline's enqueue into a closed outbox while it stops; components never see it.
export class OutboxClosedError extends Error {
  constructor(what: string) {
    super(`${what} is closed`);
    this.name = 'OutboxClosedError';
  }
}

/**
 * Groups enqueued messages into batches (by count, bytes and max wait) and hands sealed batches to
 * `store`, several at once when they are ready in the same tick. Every `add()` resolves when the
 * batches holding its messages are stored. Also enforces the capacity bound: `enqueue()` waits
 * while `depth() + unstored >= capacity`; the owner calls `notify()` when depth drops.
 */
export class Batcher {
  private current: Batch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sealed: Batch[] = [];
  private flushScheduled = false;
  private readonly storing = new Set<Promise<void>>();
  private readonly waiters: RoomWaiter[] = [];
  private pollTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Messages accepted and not yet stored. */
  unstored = 0;

  constructor(
    private readonly policy: BatchPolicy,
    private readonly capacity: number,
    private readonly depth: () => number,
    private readonly store: StoreBatches,
    private readonly name: string,
    /** Called while callers wait for room, to refresh a depth kept elsewhere (Redis). */
    private readonly poll?: () => Promise<void>,
  ) {}

  enqueue(messages: Message[]): Promise<void> {
    if (this.closed) return Promise.reject(new OutboxClosedError(this.name));
    if (messages.length === 0) return Promise.resolve();
    if (this.waiters.length === 0 && this.hasRoom()) return this.add(messages);
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ messages, resolve, reject });
      this.startPolling();
    });
  }

  waiting(): number {
    return this.waiters.length;
  }

  private hasRoom(): boolean {
    return this.depth() + this.unstored < this.capacity;
  }

  /**
   * Lets waiting callers in, in order, while there is room. Their batch is stored at once: a caller
   * that had to wait sends nothing more until these are stored, so waiting for maxWait would only
   * stall it.
   */
  notify(): void {
    let admitted = false;
    while (this.waiters.length > 0 && this.hasRoom()) {
      const w = this.waiters.shift() as RoomWaiter;
      w.resolve(this.add(w.messages));
      admitted = true;
    }
    if (admitted) this.seal();
    if (this.waiters.length === 0) this.stopPolling();
  }

  private startPolling(): void {
    if (!this.poll || this.pollTimer) return;
    const poll = this.poll;
    this.pollTimer = setInterval(() => {
      poll().then(
        () => this.notify(),
        () => undefined,
      );
    }, 100);
    this.pollTimer.unref();
  }

  private stopPolling(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  private newBatch(): Batch {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Callers await `done`; this only keeps a batch nobody awaits from crashing the process.
    done.catch(() => undefined);
    return { messages: [], bytes: 0, due: Date.now() + this.policy.maxWaitMs, done, resolve, reject };
  }

  private add(messages: Message[]): Promise<void> {
    this.unstored += messages.length;
    let first: Promise<void> | undefined;
    let more: Promise<void>[] | undefined;
    for (const m of messages) {
      let b = this.current;
      if (!b) {
        b = this.current = this.newBatch();
        this.timer = setTimeout(() => this.seal(), this.policy.maxWaitMs);
      }
      b.messages.push(m);
      b.bytes += sizeOf(m);
      if (first === undefined) first = b.done;
      else if (first !== b.done && (!more || more[more.length - 1] !== b.done))
        (more ??= [first]).push(b.done);
      if (b.messages.length >= this.policy.count || b.bytes >= this.policy.bytes) this.seal();
    }
    if (more) return Promise.all(more).then(() => undefined);
    return first as Promise<void>;
  }

  /** Stores the batch being filled now; with `withinMs`, only if its maxWait ends within it (`Outbox.flushOpen`). */
  flushOpen(withinMs?: number): void {
    const b = this.current;
    if (!b || (withinMs !== undefined && b.due - Date.now() > withinMs)) return;
    this.seal();
  }

  private seal(): void {
    const b = this.current;
    if (!b) return;
    this.current = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.sealed.push(b);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Batches sealed in the same tick are stored together (one addBulk).
      queueMicrotask(() => this.flushSealed());
    }
  }

  private flushSealed(): void {
    this.flushScheduled = false;
    const batches = this.sealed;
    if (batches.length === 0) return;
    this.sealed = [];
    const count = batches.reduce((n, b) => n + b.messages.length, 0);
    const p = this.store(
      batches.map((b) => b.messages),
      batches.map((b) => b.bytes),
    ).then(
      () => {
        this.unstored -= count;
        for (const b of batches) b.resolve();
      },
      (error: unknown) => {
        this.unstored -= count;
        for (const b of batches) b.reject(error);
      },
    );
    this.storing.add(p);
    void p.finally(() => {
      this.storing.delete(p);
      this.notify();
    });
  }

  /** Stores the pending batch now and waits for every store in flight; refuses new messages. */
  async close(): Promise<void> {
    this.closed = true;
    this.seal();
    this.flushSealed();
    this.stopPolling();
    for (const w of this.waiters.splice(0)) w.reject(new OutboxClosedError(this.name));
    await Promise.allSettled([...this.storing]);
  }
}
