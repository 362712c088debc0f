import type { ServicePipeline } from '../service.js';
import type { CurrentValue } from '../../engine/current-values.js';
import type { ReplicaBoard } from '../../outbox/types.js';
import { errorMessage, type CopyLimits, type Logger } from '../../sdk/index.js';
import type { RateHistory, SeriesName } from './rates.js';

/** What one replica tells the others: its counters and current values per pipeline. */
export interface ReplicaSnapshot {
  replica: string;
  /** When it was taken (ms). */
  time: number;
  startedAt: number;
  pipelines: Record<string, { totals: Record<SeriesName, number>; current: CurrentValue[] }>;
}

/** Payloads shared through Redis are smaller than on the local page: 200 keys x 1 KiB per pipeline at most. */
const SHARED_LIMITS: CopyLimits = { maxDepth: 8, maxBytes: 1024, maxString: 256 };
const WARN_EVERY_MS = 60_000;

/**
 * Publishes this replica's snapshot to Redis every few seconds (expiring after three periods, so a
 * stopped replica drops out), and lists every replica's for the status page: with several
 * replicas, each counts only what it handled itself, and the page shows them all and their sum.
 */
export class ReplicaSharing {
  private timer: NodeJS.Timeout | undefined;
  private lastWarning = 0;

  constructor(
    private readonly options: {
      board: ReplicaBoard;
      replica: string;
      startedAt: number;
      pipelines: () => ServicePipeline[];
      rates: RateHistory;
      logger: Logger;
      everyMs?: number;
    },
  ) {}

  private get everyMs(): number {
    return this.options.everyMs ?? 5000;
  }

  start(): void {
    void this.publish();
    this.timer = setInterval(() => void this.publish(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  snapshot(limits: CopyLimits = SHARED_LIMITS): ReplicaSnapshot {
    const { replica, startedAt, pipelines, rates } = this.options;
    const out: ReplicaSnapshot = { replica, time: Date.now(), startedAt, pipelines: {} };
    for (const p of pipelines())
      out.pipelines[p.name] = { totals: rates.get(p.name).totals, current: p.currentValues(limits) };
    return out;
  }

  async publish(): Promise<void> {
    try {
      await this.options.board.publish(
        this.options.replica,
        JSON.stringify(this.snapshot()),
        3 * this.everyMs,
      );
    } catch (error) {
      const now = Date.now();
      if (now - this.lastWarning >= WARN_EVERY_MS) {
        this.lastWarning = now;
        this.options.logger.warn(
          { err: errorMessage(error) },
          'cannot share this replica status through Redis (the status page shows this replica only); logged once a minute',
        );
      }
    }
  }

  /** Every live replica's snapshot, this one's fresh; sorted by name. */
  async list(): Promise<ReplicaSnapshot[]> {
    const self = this.snapshot();
    const others: ReplicaSnapshot[] = [];
    for (const text of await this.options.board.list()) {
      try {
        const snap = JSON.parse(text) as ReplicaSnapshot;
        if (snap && typeof snap.replica === 'string' && snap.replica !== self.replica && snap.pipelines)
          others.push(snap);
      } catch {
        // A snapshot that does not parse (another version, a stray key) is left out.
      }
    }
    return [self, ...others].sort((a, b) => a.replica.localeCompare(b.replica));
  }
}
