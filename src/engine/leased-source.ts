/**
 * Runs a single-reader source (an OPC UA session, an MQTT subscription without a shared group, a
 * poll) under a Redis lease, so that of several replicas exactly one reads it. The others report
 * `standby` (ready: they take over when the holder goes away). On lease loss the source is closed at
 * once and this replica goes back to waiting; a new source instance is created at each takeover.
 */
import {
  acquireLease,
  backoffDelay,
  errorMessage,
  LeaseAbortedError,
  redact,
  sleep,
  type ComponentContext,
  type ConnectionState,
  type Delivery,
  type Lease,
  type Source,
  type SourceDefinition,
} from '../sdk/index.js';

export interface SourceLeaseOptions {
  redisUrl: string;
  /** Lease time-to-live: how long a dead holder keeps the source before another replica takes it. */
  ttlMs?: number;
  /** Key prefix shared with the outbox (default `passerelle`). */
  prefix?: string;
  /**
   * The lease owner, `<identity>/<pipeline>/source`: a restarted process with the same identity takes
   * the source back at once (default hostname:pid, which waits for the expiry).
   */
  owner?: string;
}

/** The source as the definition creates it, or wrapped in a lease when it must have a single reader. */
export function createPipelineSource(
  definition: SourceDefinition,
  config: unknown,
  ctx: ComponentContext,
  lease: SourceLeaseOptions | undefined,
): Source {
  const create = definition.create;
  // The config loader refuses a pipeline without `schedule` whose source has no stream.
  if (!create) throw new Error(`source ${definition.type} is only read on a schedule: add \`schedule:\``);
  if (!lease || !definition.singleReader?.(config)) return create(config, ctx);
  return new LeasedSource((sourceCtx) => create(config, sourceCtx), ctx, lease);
}

export function sourceLeaseKey(pipeline: string, prefix = 'passerelle'): string {
  return `${prefix}:lease:source:${pipeline}`;
}

interface Active {
  lease: Lease;
  source: Source;
  /** Set once the source is being closed: its state reports are ignored from then on. */
  closing?: Promise<void>;
  /** The caller's read signal combined with the lease's loss, made once per caller signal (see read()). */
  readSignal?: { of: AbortSignal; signal: AbortSignal };
}

/**
 * `AbortSignal.any` per read made a signal (and its registrations with both sources) per delivery,
 * thousands a second in a flood, kept until a GC: the pipeline reads with the same signal, so one
 * combined signal serves every read under a lease.
 */
function readSignal(active: Active, signal: AbortSignal): AbortSignal {
  if (active.readSignal?.of !== signal)
    active.readSignal = { of: signal, signal: AbortSignal.any([signal, active.lease.lost]) };
  return active.readSignal.signal;
}

export class LeasedSource implements Source {
  private active: Active | undefined;
  private activating: Promise<Active | undefined> | undefined;
  private readonly closed = new AbortController();
  private readonly stallListeners = new Set<() => void>();
  private state: ConnectionState = 'connecting';
  private readonly key: string;
  private readonly held;
  private readonly takeovers;
  private readonly losses;

  constructor(
    /** Creates a new source instance; each takeover gets a fresh one. */
    private readonly create: (ctx: ComponentContext) => Source,
    private readonly ctx: ComponentContext,
    private readonly options: SourceLeaseOptions,
  ) {
    this.key = sourceLeaseKey(ctx.pipeline, options.prefix);
    this.held = ctx.metrics.gauge(
      'passerelle_lease_held',
      'Whether this replica holds the lease of a single-reader source (1) or stands by (0).',
    );
    this.takeovers = ctx.metrics.counter(
      'passerelle_lease_takeovers_total',
      'Times this replica acquired the lease of a single-reader source and started reading it.',
    );
    this.losses = ctx.metrics.counter(
      'passerelle_lease_lost_total',
      'Times this replica lost the lease of a single-reader source while reading it (renewal failed or another owner took it).',
    );
    this.held.set(undefined, 0);
  }

  /** Resolves once this replica holds the lease and the source is connected. */
  async connect(signal: AbortSignal): Promise<void> {
    await this.ensureActive(signal);
  }

  /** Stalls of whichever source instance this replica reads (a takeover makes a new one). */
  onStalled(listener: () => void): () => void {
    this.stallListeners.add(listener);
    return () => this.stallListeners.delete(listener);
  }

  /** The window of the source this replica reads now, if any. */
  get window(): number | undefined {
    return this.active?.source.window;
  }

  async read(signal: AbortSignal): Promise<Delivery | null> {
    while (!signal.aborted && !this.closed.signal.aborted) {
      const active = await this.ensureActive(signal);
      if (!active) return null;
      const delivery = await active.source.read(readSignal(active, signal));
      if (delivery) return delivery;
      if (!active.lease.lost.aborted) return null; // the source ended, or the caller stopped
      await this.deactivate(active); // already under way since the loss; waits for the close
    }
    return null;
  }

  async close(): Promise<void> {
    this.closed.abort();
    await this.activating?.catch(() => undefined);
    const active = this.active;
    if (active) await this.deactivate(active, true);
    this.setState('stopped');
  }

  private ensureActive(signal: AbortSignal): Promise<Active | undefined> {
    if (this.active && !this.active.lease.lost.aborted) return Promise.resolve(this.active);
    this.activating ??= this.activate(AbortSignal.any([signal, this.closed.signal])).finally(
      () => (this.activating = undefined),
    );
    return this.activating;
  }

  /** Waits for the lease, then connects a new source, retrying while the lease is held. */
  private async activate(signal: AbortSignal): Promise<Active | undefined> {
    while (!signal.aborted) {
      let lease: Lease;
      try {
        lease = await acquireLease({
          redisUrl: this.options.redisUrl,
          key: this.key,
          ttlMs: this.options.ttlMs,
          owner: this.options.owner,
          signal,
          logger: this.ctx.logger,
          // `standby` (ready) only once another replica is seen holding the work: before that, this
          // replica is still connecting, and a single replica must not look ready before it reads.
          onWaiting: () => this.setState('standby'),
        });
      } catch (error) {
        if (error instanceof LeaseAbortedError) return undefined;
        throw error;
      }
      this.takeovers.inc();
      this.held.set(undefined, 1);
      this.ctx.logger.info(
        { lease: this.key, token: lease.token },
        'single reader: this replica holds the lease and starts reading the source',
      );
      const candidate: Partial<Active> = { lease };
      // A closed instance must not report `stopped` or `reconnecting` over this replica's standby.
      const source = this.create({
        ...this.ctx,
        setState: (state, error) => {
          if (!candidate.closing) this.setState(state, error);
        },
      });
      source.onStalled?.(() => {
        for (const listener of this.stallListeners) listener();
      });
      const active: Active = Object.assign(candidate, { lease, source });
      const connected = await this.connectUnderLease(source, lease, signal);
      if (connected) {
        this.active = active;
        lease.lost.addEventListener('abort', () => this.onLost(active), { once: true });
        if (lease.lost.aborted) this.onLost(active);
        return active;
      }
      // Lost the lease or stopped while connecting: close this instance and wait again.
      await this.deactivate(active, true);
    }
    return undefined;
  }

  private async connectUnderLease(source: Source, lease: Lease, signal: AbortSignal): Promise<boolean> {
    const both = AbortSignal.any([signal, lease.lost]);
    for (let attempt = 0; !both.aborted; attempt++) {
      try {
        await source.connect(both);
        if (both.aborted) return false;
        // A source that does not report its own state is connected once connect() resolves.
        if (this.state === 'standby' || this.state === 'connecting') this.setState('connected');
        return true;
      } catch (error) {
        const delay = backoffDelay(attempt, 500, 30_000);
        this.setState('reconnecting', error as Error);
        this.ctx.logger.warn(
          { delayMs: delay, err: redact(errorMessage(error)) },
          'source could not connect, retrying (lease held)',
        );
        await sleep(delay, both);
      }
    }
    return false;
  }

  /** Another replica may read from now on: stop reading at once, even if nobody calls read(). */
  private onLost(active: Active): void {
    if (this.closed.signal.aborted) return;
    const { lease } = active;
    this.losses.inc();
    this.ctx.logger.warn(
      { lease: this.key, token: lease.token, reason: redact(errorMessage(lease.lost.reason)) },
      'single reader: lease lost; closing the source and standing by',
    );
    this.setState('standby');
    void this.deactivate(active);
  }

  /** Closes the source (once) and releases the lease if still held; resolves when done. */
  private deactivate(active: Active, release = false): Promise<void> {
    if (this.active === active) this.active = undefined;
    this.held.set(undefined, 0);
    active.closing ??= (async () => {
      await this.closeSource(active.source);
      if (release) await active.lease.release();
    })();
    return active.closing;
  }

  private async closeSource(source: Source): Promise<void> {
    try {
      await source.close();
    } catch (error) {
      this.ctx.logger.warn({ err: redact(errorMessage(error)) }, 'closing the source failed');
    }
  }

  private setState(state: ConnectionState, error?: Error): void {
    if (state === this.state && !error) return;
    this.state = state;
    this.ctx.setState(state, error);
  }
}
