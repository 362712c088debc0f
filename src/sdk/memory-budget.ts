/**
 * One byte budget per process, shared by every pipeline: the bytes of messages held in memory, from
 * the moment a source takes them (its inbox) through the transforms until they are stored (Redis
 * outbox) or written by every sink (memory outbox). Sizes are `messageSize`: the payload's bytes
 * plus a fixed overhead per message; the JavaScript objects behind them take a few times more heap.
 *
 * Only inputs wait: a source does not take a new message while the budget is spent (MQTT stops
 * reading, so PUBACKs wait and the broker keeps the rest; OPC UA counts a drop, as when its inbox is
 * full). Everything already inside goes on and may overdraw the budget by what is in flight (one
 * delivery per pipeline and sink at most), so nothing waits on itself and nothing is dropped.
 */
export class MemoryBudget {
  /** Bytes held now. */
  used = 0;
  /** The most bytes held at once since start. */
  peak = 0;
  /** Times an input found the budget spent and waited. */
  waits = 0;
  private waiters: (() => void)[] = [];
  private spentListeners = new Set<() => void>();

  constructor(readonly limit: number) {
    if (!Number.isFinite(limit) || limit <= 0)
      throw new Error(`memory budget: ${limit} is not a positive size`);
  }

  /** True while the bytes held reach the limit: inputs wait (`whenAvailable`). */
  get exhausted(): boolean {
    return this.used >= this.limit;
  }

  /** Counts bytes now held; never waits (what is already inside must be able to move on). */
  take(bytes: number): void {
    const wasSpent = this.exhausted;
    this.used += bytes;
    if (this.used > this.peak) this.peak = this.used;
    if (!wasSpent && this.exhausted) for (const listener of this.spentListeners) listener();
  }

  /**
   * Calls `listener` each time the budget becomes spent. Pipelines store their open batches then:
   * no source takes more until something is freed, so waiting for a batch to fill would only wait
   * its maxWait. Returns the unsubscribe function.
   */
  onSpent(listener: () => void): () => void {
    this.spentListeners.add(listener);
    return () => this.spentListeners.delete(listener);
  }

  /** Bytes no longer held; inputs waiting go on once below the limit. */
  give(bytes: number): void {
    this.used -= bytes;
    if (this.used < 0) this.used = 0;
    if (this.waiters.length > 0 && !this.exhausted) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Resolves once the budget is not spent (at once when it is not). */
  whenAvailable(): Promise<void> {
    if (!this.exhausted) return Promise.resolve();
    this.waits++;
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** Parses a byte size: `64MiB`, `32 MB`, `500kB`, `1048576`. Undefined when it is not one. */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] ?? '').toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
