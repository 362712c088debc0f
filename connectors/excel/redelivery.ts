import { createHash } from 'node:crypto';
import type { Message } from '../../src/sdk/index.js';

/** How many batches are remembered; the oldest are forgotten first. */
const REMEMBERED = 10_000;

/**
 * The batches written to period files since the start (and those replayed from their journals):
 * a batch the outbox delivers again (its acknowledgement was lost) is recognised and not written
 * twice. Runs dedupe within their own journals instead.
 */
export class DeliveredBatches {
  /** Batch id -> base names of the files that hold it. */
  private readonly written = new Map<string, Set<string>>();

  filesOf(batchId: string): ReadonlySet<string> | undefined {
    return this.written.get(batchId);
  }

  remember(batchId: string, base: string): void {
    let bases = this.written.get(batchId);
    if (!bases) {
      bases = new Set();
      this.written.set(batchId, bases);
      if (this.written.size > REMEMBERED) {
        const oldest = this.written.keys().next().value;
        if (oldest !== undefined) this.written.delete(oldest);
      }
    }
    bases.add(base);
  }
}

/** The same messages (ids and times) give the same id: a redelivered batch is recognised. */
export function batchIdOf(batch: Message[]): string {
  const hash = createHash('sha256');
  for (const m of batch) hash.update(`${m.id}\u0000${m.time}\u0001`);
  return hash.digest('hex').slice(0, 32);
}
