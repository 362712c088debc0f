/**
 * A single writer across replicas for a sink's target (the Excel sink's folder): the sink writes
 * only while it holds a Redis lease (lease.ts), and records the lease's fencing token at the target
 * so that a replica whose lease was taken over, but which is still running, is refused before its
 * next write. On loss the sink stands by, lets its work under way finish, drops what it holds in
 * memory, waits one lease period (the replica that took over keeps the work: no flapping), competes
 * again, and on success recovers from the target and carries on. Closing stops all of that.
 *
 * The sink owns the target: it says how the token is kept there (`FenceStore`) and what standing
 * by and recovering mean (`LeasedWriterHooks`). A target that can not keep a token (the Sparkplug
 * edge node: an MQTT client id, whose broker throws off an older session itself) has no
 * `FenceStore`: only the loss of the lease refuses writes. Why this sits in the SDK and not in the engine:
 * docs/architecture.md, "Scale-out".
 */
import type { ConnectionState } from './define.js';
import { NotConnectedError } from './errors.js';
import { acquireLease, DEFAULT_LEASE_TTL_MS, LeaseAbortedError, type Lease } from './lease.js';
import type { Logger } from './logger.js';
import { sleep } from './timing.js';

/** Where the fencing token is kept at the target (Excel: `.passerelle-excel/fence`). */
export interface FenceStore {
  /** Records the token of a new acquisition; it must be durable before this resolves. */
  write(token: number): Promise<void>;
  /** The token last recorded at the target (0 when there is none). */
  read(): Promise<number>;
}

/** What the sink does when the lease goes and comes back. */
export interface LeasedWriterHooks {
  /** The lease is lost: wait for the writes under way, then drop the in-memory state of the target. */
  standBy(reason: Error): Promise<void>;
  /** The lease is held again (its token recorded): reload the state from the target. */
  recover(): Promise<void>;
  /** Taking the target back failed for another reason than `stop()` (the sink reports it). */
  failed(error: unknown): void;
}

export interface LeasedWriterOptions {
  redisUrl: string;
  /** The Redis key of the lease, derived from the target (not the pipeline): one writer per target. */
  key: string;
  /** The lease owner (`ctx.leaseOwner`): a restart with the same identity takes the lease back at once. */
  owner?: string;
  ttlMs?: number;
  logger: Logger;
  /** For errors: `<component>: another replica now writes <target>`. */
  component: string;
  target: string;
  /** Without one, nothing is recorded at the target and only a lost lease refuses writes. */
  fence?: FenceStore;
  setState(state: ConnectionState, error?: Error): void;
  hooks: LeasedWriterHooks;
}

export class LeasedWriter {
  private lease: Lease | undefined;
  /** Set once the sink serves under the lease: a loss before that is handled when it starts. */
  private serving = false;
  /** Aborted by stop(): no more waiting, acquiring or recovering. */
  private session = new AbortController();
  private handlingLoss: Promise<void> | undefined;
  private readonly ttlMs: number;

  constructor(private readonly options: LeasedWriterOptions) {
    this.ttlMs = options.ttlMs ?? DEFAULT_LEASE_TTL_MS;
  }

  /** The token of the current (or last) acquisition, 0 before the first: recorded with each write. */
  get token(): number {
    return this.lease?.token ?? 0;
  }

  /** Whether the lease was lost and not yet taken back: writes must be refused. */
  get lost(): boolean {
    return this.lease?.lost.aborted ?? false;
  }

  /** Reports `standby`, waits for the lease, and records its token at the target. */
  async acquire(signal: AbortSignal): Promise<void> {
    this.session = new AbortController();
    this.options.setState('standby');
    this.lease = await this.take(AbortSignal.any([signal, this.session.signal]));
  }

  /** The sink is connected under the lease: a loss from now on sends it to standby and back. */
  serve(): void {
    this.serving = true;
    if (this.lease?.lost.aborted) this.onLost(this.lease.lost.reason as Error);
  }

  /**
   * Throws NotConnectedError when another replica writes the target now: a higher token recorded
   * there, or the lease lost. Called right before each write to the target.
   */
  async checkFence(): Promise<void> {
    const lease = this.lease;
    if (!lease) return;
    const recorded = (await this.options.fence?.read()) ?? 0;
    if (recorded > lease.token || lease.lost.aborted)
      throw new NotConnectedError(
        `${this.options.component}: another replica now writes ${this.options.target} (fencing token ${recorded})`,
      );
  }

  /** No more standing by or taking back (the sink is closing); the lease stays until release(). */
  stop(): void {
    this.serving = false;
    this.session.abort();
  }

  /** Stops, waits for a loss being handled to end, and releases the lease if still held. */
  async release(): Promise<void> {
    this.stop();
    await this.handlingLoss;
    const lease = this.lease;
    this.lease = undefined;
    await lease?.release();
  }

  private async take(signal: AbortSignal): Promise<Lease> {
    const lease = await acquireLease({
      redisUrl: this.options.redisUrl,
      key: this.options.key,
      owner: this.options.owner,
      signal,
      logger: this.options.logger,
      ttlMs: this.ttlMs,
      onLost: (reason) => {
        if (this.lease === lease) this.onLost(reason);
      },
    });
    // Fencing: a replica that lost the lease but is still running sees a higher token and stops.
    try {
      await this.options.fence?.write(lease.token);
    } catch (error) {
      await lease.release();
      throw error;
    }
    return lease;
  }

  private onLost(reason: Error): void {
    if (!this.serving || this.handlingLoss) return;
    this.handlingLoss = this.handleLoss(reason).finally(() => (this.handlingLoss = undefined));
  }

  /** Stands by and takes the target back; again if the lease is lost while recovering. */
  private async handleLoss(reason: Error): Promise<void> {
    for (let why = reason; await this.standByAndTakeBack(why);) {
      const lost = this.lease?.lost;
      if (!lost?.aborted || !this.serving) return;
      why = lost.reason as Error;
    }
  }

  /** Resolves true once connected again under a new lease, false when stopped or failed. */
  private async standByAndTakeBack(reason: Error): Promise<boolean> {
    const session = this.session.signal;
    const { hooks, setState } = this.options;
    setState('standby', reason);
    try {
      await hooks.standBy(reason);
      // Give the replica that took over a lease period before competing again: no flapping.
      await sleep(this.ttlMs, session);
      const lease = await this.take(session);
      if (session.aborted) {
        await lease.release();
        return false;
      }
      this.lease = lease;
      await hooks.recover();
      if (session.aborted) return false;
      setState('connected');
      return true;
    } catch (error) {
      if (!(error instanceof LeaseAbortedError) && !session.aborted) hooks.failed(error);
      return false;
    }
  }
}
