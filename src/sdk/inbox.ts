import type { Delivery } from './delivery.js';
import type { MemoryBudget } from './memory-budget.js';
import { messageSize, type Message } from './message.js';

/**
 * What a pushed message's acknowledgement calls: a function, or an object with a `settle` method.
 * An object held per message (the MQTT source's held PUBACK) can then be its own settle, without a
 * closure or bound function beside it for the whole wait (issue 17: each lived through scavenges).
 */
export type Settle = ((error?: Error) => void) | { settle(error?: Error): void };

function settleOne(settle: Settle | undefined, error: Error | undefined): void {
  if (typeof settle === 'function') settle(error);
  else settle?.settle(error);
}

export interface InboxOptions {
  /** Messages pushed and not yet settled, at most. Past it, `full` is true and `whenSpace()` waits. */
  capacity: number;
  /** Messages per delivery returned by `read()`, at most. */
  maxBatch: number;
  /**
   * The process's memory budget (`ComponentContext.memoryBudget`): a message's bytes count from push
   * until its delivery is acknowledged, and `full` is also true while the budget is spent.
   */
  budget?: MemoryBudget;
}

function sizeOf(message: Message): number {
  try {
    return messageSize(message);
  } catch {
    // A value JSON can not carry: the outbox dead-letters it; count the overhead only.
    return 64;
  }
}

/**
 * Turns pushes from event-driven clients (mqtt.js, node-opcua) into `read()` calls. It counts a
 * message from push until its delivery is acknowledged, so `capacity` bounds the whole in-flight
 * window, not only the unread part. Acks of one delivery run in push order.
 */
export class Inbox {
  private queue: Message[] = [];
  private settles: (Settle | undefined)[] = [];
  /** Bytes of each queued message (only with a budget). */
  private sizes: number[] = [];
  private budgetWait = false;
  /** How many queued messages, counted from the head, end with the last burst (0: no burst end queued). */
  private burstEnd = 0;
  private burstQuietMs = 0;
  private inFlight = 0;
  private closed = false;
  private reader: (() => void) | undefined;
  private spaceWaiters: (() => void)[] = [];

  constructor(private readonly options: InboxOptions) {}

  get size(): number {
    return this.inFlight;
  }

  get full(): boolean {
    return this.inFlight >= this.options.capacity || this.options.budget?.exhausted === true;
  }

  /** `bytes`: the message's size when the source knows it (the bytes received), else `messageSize`. */
  push(message: Message, onSettled?: Settle, bytes?: number): void {
    if (this.closed) {
      settleOne(onSettled, new Error('inbox closed'));
      return;
    }
    this.queue.push(message);
    this.settles.push(onSettled);
    const budget = this.options.budget;
    if (budget) {
      const size = bytes ?? sizeOf(message);
      this.sizes.push(size);
      budget.take(size);
    }
    this.inFlight++;
    const wake = this.reader;
    this.reader = undefined;
    wake?.();
  }

  /**
   * The last message pushed ends a burst: nothing more is expected for about `quietMs` (the next
   * OPC UA publish, the next poll). The delivery that ends with it carries `quietFor`, so the engine
   * stores the sinks' batches that would otherwise wait out their maxWait for nothing. Call it in the
   * same tick as the burst's pushes: a reader woken by the first push reads only after that tick.
   */
  endBurst(quietMs: number): void {
    if (this.queue.length === 0) return; // already read: that delivery went without the mark
    this.burstEnd = this.queue.length;
    this.burstQuietMs = quietMs;
  }

  /** Resolves once the inbox is below capacity. */
  whenSpace(): Promise<void> {
    if (!this.full || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.spaceWaiters.push(resolve);
      this.watchBudget();
    });
  }

  /** While waiters wait on a spent budget, wake them when it frees up (other pipelines free it too). */
  private watchBudget(): void {
    const budget = this.options.budget;
    if (!budget || this.budgetWait || !budget.exhausted) return;
    this.budgetWait = true;
    void budget.whenAvailable().then(() => {
      this.budgetWait = false;
      this.releaseSpace();
    });
  }

  /** The next delivery, or null once the inbox is closed and drained, or the signal aborted. */
  async read(signal?: AbortSignal): Promise<Delivery | null> {
    while (this.queue.length === 0) {
      if (this.closed || signal?.aborted) return null;
      await new Promise<void>((resolve) => {
        const onAbort = (): void => resolve();
        signal?.addEventListener('abort', onAbort, { once: true });
        this.reader = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
      });
    }
    const n = Math.min(this.queue.length, this.options.maxBatch);
    const messages = this.queue.splice(0, n);
    const settles = this.settles.splice(0, n);
    let bytes = 0;
    if (this.options.budget) for (const size of this.sizes.splice(0, n)) bytes += size;
    // Only a delivery that ends exactly at the burst's end is quiet after it: one that goes on past
    // it holds the start of the next burst, which has not ended.
    const endsBurst = this.burstEnd > 0 && n === this.burstEnd;
    this.burstEnd = n >= this.burstEnd ? 0 : this.burstEnd - n;
    return new InboxDelivery(this, messages, settles, bytes, endsBurst ? this.burstQuietMs : undefined);
  }

  /** A delivery's acknowledgement (once): its messages' settles, in push order, then its room back. */
  settleDelivery(settles: readonly (Settle | undefined)[], bytes: number, error: Error | undefined): void {
    for (const settle of settles) settleOne(settle, error);
    this.inFlight -= settles.length;
    if (bytes > 0) this.options.budget?.give(bytes);
    this.releaseSpace();
  }

  /** Stops accepting pushes; pending readers get null once the queue is empty. */
  close(): void {
    this.closed = true;
    const wake = this.reader;
    this.reader = undefined;
    wake?.();
    this.releaseSpace();
  }

  /** Drops unread messages, failing their acks (used when a connection is lost before reading). */
  failUnread(error: Error): void {
    const settles = this.settles.splice(0);
    const n = this.queue.splice(0).length;
    this.burstEnd = 0;
    let bytes = 0;
    for (const size of this.sizes.splice(0)) bytes += size;
    if (bytes > 0) this.options.budget?.give(bytes);
    this.inFlight -= n;
    for (const settle of settles) settleOne(settle, error);
    this.releaseSpace();
  }

  private releaseSpace(): void {
    if (this.full && !this.closed) {
      if (this.spaceWaiters.length > 0) this.watchBudget();
      return;
    }
    const waiters = this.spaceWaiters.splice(0);
    for (const w of waiters) w();
  }
}

/**
 * A delivery of an inbox. A class rather than a closure made per read: a closure made now and
 * called only later loses its optimised code at each full GC (V8 keeps the code of closures only
 * through the ones that have run) and is compiled again (issue 17); a method keeps it.
 */
class InboxDelivery implements Delivery {
  private settled = false;

  constructor(
    private readonly inbox: Inbox,
    /** Emptied by the engine once transformed (the source's messages then die young). */
    public messages: Message[],
    private readonly settles: (Settle | undefined)[],
    private readonly bytes: number,
    /** Set on every delivery (undefined when not quiet), so that all have one shape. */
    public quietFor: number | undefined,
  ) {}

  ack(error?: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.inbox.settleDelivery(this.settles, this.bytes, error);
  }
}
