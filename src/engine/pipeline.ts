import {
  backoffDelay,
  boundedCopy,
  type CopyLimits,
  errorMessage,
  sleep,
  withDeadline,
  redact,
  type ComponentContext,
  type ConnectionState,
  type Delivery,
  type Logger,
  type MemoryBudget,
  type Message,
  type Sink,
  type Source,
  type TransformContext,
  SerialQueue,
} from '../sdk/index.js';
import type { DeadLetter, DeadLetterStore, Outbox, OutboxBackend } from '../outbox/types.js';
import type { EngineMetrics } from './metrics.js';
import { CurrentValues, type CurrentValue } from './current-values.js';
import { componentContext, leaseOwner, type PipelineContextDeps } from './component-context.js';
import { createPipelineSource } from './leased-source.js';
import type { PipelinePlan, SinkPlan } from './plan.js';
import { connectWithRetry, type ComponentStatus } from './connect.js';
import {
  deadLetterOf,
  runTransforms,
  transformContext,
  type ChainDeps,
  type TransformStep,
} from './transform-chain.js';

export type { ComponentStatus };

export type PipelineState = 'starting' | 'running' | 'reconnecting' | 'stopping' | 'stopped' | 'failed';

export interface PipelineStatus {
  name: string;
  state: PipelineState;
  delivery: Record<string, string>;
  components: ComponentStatus[];
  inFlight: number;
  outboxes: Record<string, { depth: number; activeJobs: number }>;
  recent: { id: string; time: number; payload: unknown; meta: Record<string, unknown> }[];
  /** The last value per key (OPC UA node, LoRaWAN device, MQTT topic), after the transforms; at most `cap` keys. */
  current: { cap: number; evicted: number; values: CurrentValue[] };
}

interface PipelineDeps {
  backend: OutboxBackend;
  metrics: EngineMetrics;
  logger: Logger;
  /** Passed to components that keep state shared by replicas (leases, rate limits). */
  redisUrl?: string;
  /** Lease time-to-live for single-reader sources (run under a Redis lease when `redisUrl` is set). */
  leaseTtlMs?: number;
  /**
   * This process's identity among the replicas (default: the host name, i.e. the pod name on
   * Kubernetes). Leases are owned by `<identity>/<pipeline>/<component>`, so a restart with the same
   * identity takes them back at once. Two live replicas must not share it.
   */
  identity?: string;
  /** The process's memory budget, handed to the sources (their inbox counts in it). */
  memoryBudget?: MemoryBudget;
}

interface SinkRuntime {
  plan: SinkPlan;
  sink: Sink;
  outbox: Outbox;
  status: ComponentStatus;
}

const RECENT_MESSAGES = 10;
/** How much of each recent message the status shows: any payload renders, however deep or large. */
const RECENT_LIMITS: CopyLimits = { maxDepth: 16, maxBytes: 8 * 1024, maxString: 1024 };

/**
 * Runs one pipeline: source -> transforms -> one outbox per sink -> sink.write().
 * A delivery is acknowledged to the source once every message derived from it is settled: stored in
 * every sink's outbox, filtered, or dead-lettered. Reading stops while `maxUnsettled` messages are
 * unsettled (backpressure reaches the source, e.g. MQTT PUBACKs are held back).
 */
export class Pipeline {
  readonly name: string;
  private state: PipelineState = 'starting';
  private source!: Source;
  private sourceStatus: ComponentStatus;
  private transforms: TransformStep[] = [];
  private sinks: SinkRuntime[] = [];
  private readonly abort = new AbortController();
  private readLoop: Promise<void> | undefined;
  private replayLoop: Promise<void> | undefined;
  private inFlight = 0;
  /** What the deliveries read and not yet acknowledged hold of the source's window. */
  private windowHeld = 0;
  private pending = new Set<Promise<void>>();
  private spaceWaiter: (() => void) | undefined;
  private recent: PipelineStatus['recent'] = [];
  private readonly current = new CurrentValues();
  /** Transforms run one batch at a time: flushes and replays wait for their turn. */
  private readonly transformTurn = new SerialQueue();
  private flushTimers: NodeJS.Timeout[] = [];
  private stopBudgetWatch: (() => void) | undefined;
  private stopStallWatch: (() => void) | undefined;
  private readonly log: Logger;
  private readonly dlq: DeadLetterStore;
  /** Each sink's outbox learns its connection state: it writes only to a connected sink. */
  private readonly outboxOfSink = new Map<ComponentStatus, Outbox>();

  constructor(
    private readonly plan: PipelinePlan,
    private readonly deps: PipelineDeps,
  ) {
    this.name = plan.name;
    this.log = deps.logger.child({ pipeline: plan.name });
    this.dlq = deps.backend.deadLetters;
    this.sourceStatus = { component: 'source', type: plan.source.type, state: 'connecting' };
  }

  /** Creates the components, starts the sink workers, connects and starts reading. Returns at once. */
  start(): void {
    const { plan, deps } = this;
    const m = deps.metrics;
    m.received.inc({ pipeline: plan.name }, 0);
    this.source = createPipelineSource(
      plan.source.definition,
      plan.source.config,
      this.componentContext('source', plan.source.type, this.sourceStatus),
      deps.redisUrl
        ? { redisUrl: deps.redisUrl, ttlMs: deps.leaseTtlMs, owner: this.leaseOwner('source') }
        : undefined,
    );
    this.transforms = plan.transforms.map((t, i) => {
      const component = `transforms[${i}]`;
      const ctx = this.componentContext(component, t.type, undefined);
      return { transform: t.definition.create(t.config, ctx), component };
    });
    for (const sp of plan.sinks) {
      const status: ComponentStatus = { component: sp.name, type: sp.type, state: 'connecting' };
      const sink = sp.definition.create(sp.config, this.componentContext(sp.name, sp.type, status));
      const labels = { pipeline: plan.name, sink: sp.name };
      m.delivered.inc(labels, 0);
      const outbox = deps.backend.createOutbox({
        pipeline: plan.name,
        sink: sp.name,
        batch: sp.batch,
        retry: sp.retry,
        capacity: sp.maxQueued,
        concurrency: sp.concurrency,
        owner: this.leaseOwner(sp.name),
        events: {
          delivered: (n) => m.delivered.inc(labels, n),
          deadLettered: (n, reason) => {
            m.deadLettered.inc({ pipeline: plan.name, stage: sp.name }, n);
            this.log.warn(
              { component: sp.name, count: n, reason: redact(reason) },
              'messages dead-lettered by the sink',
            );
          },
          retrying: (error, attempt, delayMs) => {
            m.retries.inc(labels);
            this.log.warn(
              { component: sp.name, attempt, delayMs, err: redact(errorMessage(error)) },
              'sink write failed, retrying',
            );
          },
          waiting: (error) => {
            m.retries.inc(labels);
            this.log.info(
              { component: sp.name, err: redact(errorMessage(error)) },
              'sink not connected: its batches wait and are written as soon as it connects',
            );
          },
          // Counted as dropped, so the counters still reconcile after a reload (metrics.ts).
          lost: (n, reason) => m.dropped.inc({ pipeline: plan.name, component: sp.name, reason }, n),
          stopped: (error) => {
            this.setComponentState(status, 'stopped', error);
            this.log.error(
              { component: sp.name, err: redact(errorMessage(error)) },
              'sink stopped: fix the cause and restart the service',
            );
          },
        },
      });
      const runtime: SinkRuntime = { plan: sp, sink, outbox, status };
      this.outboxOfSink.set(status, outbox);
      outbox.setConnected(status.state === 'connected');
      const latency = m.deliveryLatency.series(labels);
      outbox.start(async (messages, ctx) => {
        await sink.write(messages, ctx.signal);
        const now = Date.now();
        for (const msg of messages) latency.observe(Math.max(0, now - msg.time) / 1000);
      });
      this.sinks.push(runtime);
      void this.connectWithRetry(`sink ${sp.name}`, status, (signal) => sink.connect(signal));
    }
    this.readLoop = this.connectWithRetry('source', this.sourceStatus, (signal) =>
      this.source.connect(signal),
    ).then(() => (this.abort.signal.aborted ? undefined : this.runReadLoop()));
    this.replayLoop = this.runReplayLoop();
    this.startFlushTimers();
    // Another pipeline may spend the shared budget while this one waits on its source.
    this.stopBudgetWatch = deps.memoryBudget?.onSpent(() => {
      if (this.inFlight > 0) this.flushOpenBatches();
    });
    this.stopStallWatch = this.source.onStalled?.(() => {
      if (this.inFlight > 0) this.flushOpenBatches();
    });
    this.state = 'running';
  }

  /** Stops reading, lets in-flight messages reach their outboxes and active writes finish (up to the deadline). */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    const deadline = this.plan.shutdownTimeoutMs;
    const started = Date.now();
    this.abort.abort();
    this.stopBudgetWatch?.();
    this.stopStallWatch?.();
    for (const timer of this.flushTimers.splice(0)) clearInterval(timer);
    this.spaceWaiter?.();
    // Batches opened before the stop; later ones are stored as they are filled (see enqueue()).
    this.flushOpenBatches();
    await withDeadline(Promise.allSettled([this.readLoop, this.replayLoop]), deadline);
    await withDeadline(Promise.allSettled([...this.pending]), Math.max(0, deadline - (Date.now() - started)));
    // What transforms still hold (open windows) goes out now, in pipeline order.
    await withDeadline(this.flushAll(Infinity), Math.max(0, deadline - (Date.now() - started)));
    await withDeadline(Promise.allSettled([...this.pending]), Math.max(0, deadline - (Date.now() - started)));
    await this.closeQuietly('source', () => this.source.close());
    const left = Math.max(1000, deadline - (Date.now() - started));
    await Promise.all(
      this.sinks.map((s) =>
        s.outbox.close(left).catch((e) => this.log.warn({ err: errorMessage(e) }, 'outbox close failed')),
      ),
    );
    for (const s of this.sinks) await this.closeQuietly(s.plan.name, () => s.sink.close());
    for (const t of this.transforms)
      if (t.transform.close) await this.closeQuietly(t.component, () => t.transform.close!());
    this.state = 'stopped';
  }

  /** True when the source and every sink are connected. */
  ready(): boolean {
    return (
      this.state === 'running' &&
      [this.sourceStatus, ...this.sinks.map((s) => s.status)].every(
        (c) => c.state === 'connected' || c.state === 'standby',
      )
    );
  }

  /**
   * Refreshes the outbox gauges (depth, in flight) and returns the outboxes' stats. What a /metrics
   * scrape needs: unlike status(), it copies no recent message or current value.
   */
  async refreshGauges(): Promise<PipelineStatus['outboxes']> {
    const outboxes: PipelineStatus['outboxes'] = {};
    for (const s of this.sinks) {
      const st = await s.outbox.stats().catch(() => ({ depth: -1, activeJobs: -1 }));
      outboxes[s.plan.name] = st;
      this.deps.metrics.outboxDepth.set({ pipeline: this.name, sink: s.plan.name }, Math.max(0, st.depth));
      this.deps.metrics.inFlight.set(
        { pipeline: this.name, sink: s.plan.name },
        Math.max(0, st.depth) + this.inFlight,
      );
    }
    return outboxes;
  }

  async status(): Promise<PipelineStatus> {
    const outboxes = await this.refreshGauges();
    const delivery: Record<string, string> = {};
    const src = this.plan.source.definition.delivery(this.plan.source.config);
    for (const s of this.sinks) {
      const sink = s.plan.definition.delivery(s.plan.config);
      // The memory outbox loses what it holds when the process dies: nothing is at-least-once with it.
      const durable = this.deps.backend.kind === 'redis';
      delivery[s.plan.name] =
        durable && src === 'at-least-once' && sink === 'at-least-once' ? 'at-least-once' : 'best-effort';
    }
    const components = [this.sourceStatus, ...this.sinks.map((s) => s.status)];
    let state = this.state;
    if (state === 'running' && components.some((c) => c.state !== 'connected' && c.state !== 'standby'))
      state = 'reconnecting';
    return {
      name: this.name,
      state,
      delivery,
      components,
      inFlight: this.inFlight,
      outboxes,
      recent: this.recent.map((m) => ({
        id: m.id,
        time: m.time,
        payload:
          m.payload instanceof Uint8Array
            ? { bytes: m.payload.byteLength }
            : boundedCopy(m.payload, RECENT_LIMITS),
        meta: boundedCopy(m.meta, RECENT_LIMITS) as Record<string, unknown>,
      })),
      current: {
        cap: this.current.cap,
        evicted: this.current.evicted,
        values: this.current.list().map((v) => ({
          ...v,
          payload:
            v.payload instanceof Uint8Array
              ? { bytes: v.payload.byteLength }
              : boundedCopy(v.payload, RECENT_LIMITS),
        })),
      },
    };
  }

  /** The last value per key, payloads bounded (by default as the status page shows them). */
  currentValues(limits: CopyLimits = RECENT_LIMITS): CurrentValue[] {
    return this.current.list().map((v) => ({
      ...v,
      payload:
        v.payload instanceof Uint8Array ? { bytes: v.payload.byteLength } : boundedCopy(v.payload, limits),
    }));
  }

  private async runReadLoop(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      if (this.inFlight >= this.plan.maxUnsettled) {
        this.flushOpenBatches();
        await new Promise<void>((resolve) => (this.spaceWaiter = resolve));
        continue;
      }
      // The source's window is full, or the process's memory budget is spent: nothing more comes
      // until these are stored, so store them now.
      if (
        this.inFlight > 0 &&
        (this.windowHeld >= (this.source.window ?? Infinity) || this.deps.memoryBudget?.exhausted === true)
      )
        this.flushOpenBatches();
      let delivery: Delivery | null;
      try {
        delivery = await this.source.read(signal);
      } catch (error) {
        this.log.error({ component: 'source', err: redact(errorMessage(error)) }, 'source read failed');
        await sleep(1000, signal);
        continue;
      }
      if (!delivery) break;
      await this.process(delivery);
    }
  }

  /** `withinMs`: only the batches whose maxWait ends within it (see Outbox.flushOpen). */
  private flushOpenBatches(withinMs?: number): void {
    for (const s of this.sinks) s.outbox.flushOpen(withinMs);
  }

  /** Transforms run in order, one delivery at a time; storing into the outboxes overlaps with the next read. */
  private async process(delivery: Delivery): Promise<void> {
    const n = delivery.messages.length;
    this.deps.metrics.received.inc({ pipeline: this.name }, n);
    this.inFlight += n;
    const held = delivery.held ?? n;
    this.windowHeld += held;
    const rejected: Omit<DeadLetter, 'id'>[] = [];
    const out = await this.exclusive(() => this.runTransforms(delivery.messages, 0, rejected));
    // The source's messages are not read past the transforms: let them go now rather than with the
    // delivery after the store and the ack, so they die young (a flood promoted nearly all of them).
    if (out !== delivery.messages) delivery.messages = [];
    const work = this.settle(out, rejected, this.sinks).then(
      () => this.ackQuietly(delivery),
      (error: Error) => this.ackQuietly(delivery, error),
    );
    // The end of a burst (an OPC UA publish): a batch that nothing more can join before its maxWait
    // ends is stored now rather than when its timer fires.
    if (delivery.quietFor !== undefined) this.flushOpenBatches(delivery.quietFor);
    const tracked = work.finally(() => {
      this.inFlight -= n;
      this.windowHeld -= held;
      this.pending.delete(tracked);
      const wake = this.spaceWaiter;
      this.spaceWaiter = undefined;
      wake?.();
    });
    this.pending.add(tracked);
  }

  private exclusive<T>(run: () => Promise<T>): Promise<T> {
    return this.transformTurn.run(run);
  }

  private startFlushTimers(): void {
    this.transforms.forEach(({ transform }, index) => {
      if (!transform.flush) return;
      let busy = false;
      const timer = setInterval(() => {
        if (busy || this.abort.signal.aborted) return;
        busy = true;
        void this.flushTransform(index, Date.now()).finally(() => (busy = false));
      }, transform.flushEvery ?? 1000);
      timer.unref();
      this.flushTimers.push(timer);
    });
  }

  private async flushAll(now: number): Promise<void> {
    for (let i = 0; i < this.transforms.length; i++)
      if (this.transforms[i]!.transform.flush) await this.flushTransform(i, now);
  }

  /**
   * Runs a transform's flush(); its messages go through the following transforms and into the sinks
   * like a delivery without a source ack. They count as generated, and in flight until stored.
   */
  private async flushTransform(index: number, now: number): Promise<void> {
    const { transform, component } = this.transforms[index]!;
    const rejected: Omit<DeadLetter, 'id'>[] = [];
    let generated = 0;
    const out = await this.exclusive(async () => {
      let produced: Message[];
      let rejectedHere = 0;
      try {
        const ctx = this.transformContext(component, rejected, () => rejectedHere++);
        produced = await transform.flush!(now, ctx);
      } catch (error) {
        this.log.error({ component, err: redact(errorMessage(error)) }, 'transform flush failed');
        return [];
      }
      // A message the flush dead-letters was generated too: the counters must still reconcile.
      generated = produced.length + rejectedHere;
      if (generated === 0) return [];
      this.deps.metrics.generated.inc({ pipeline: this.name, component }, generated);
      this.inFlight += generated;
      return produced.length > 0 ? this.runTransforms(produced, index + 1, rejected) : [];
    });
    if (generated === 0 && rejected.length === 0) return;
    const tracked = this.settle(out, rejected, this.sinks)
      .catch((error: Error) => {
        // Only when stopping with the storage down: nothing upstream can redeliver these.
        this.deps.metrics.dropped.inc(
          { pipeline: this.name, component, reason: 'storage failed at stop' },
          out.length,
        );
        this.log.error(
          { component, count: out.length, err: redact(errorMessage(error)) },
          'flushed messages could not be stored and are lost',
        );
      })
      .finally(() => {
        this.inFlight -= generated;
        this.pending.delete(tracked);
        const wake = this.spaceWaiter;
        this.spaceWaiter = undefined;
        wake?.();
      });
    this.pending.add(tracked);
    await tracked;
  }

  /** A source whose ack throws must not leave an unhandled rejection behind. */
  private ackQuietly(delivery: Delivery, error?: Error): void {
    try {
      delivery.ack(error);
    } catch (ackError) {
      this.log.error(
        { component: 'source', err: redact(errorMessage(ackError)) },
        'source acknowledgement failed',
      );
    }
  }

  private async runTransforms(
    input: Message[],
    from: number,
    rejected: Omit<DeadLetter, 'id'>[],
  ): Promise<Message[]> {
    const batch = await runTransforms(this.chainDeps(), this.transforms, input, from, rejected);
    if (batch.length > 0) this.remember(batch);
    return batch;
  }

  private chainDeps(): ChainDeps {
    return { pipeline: this.name, logger: this.log, metrics: this.deps.metrics };
  }

  /** Stores dead letters and enqueues into each sink's outbox, retrying storage failures until stopped. */
  private async settle(
    out: Message[],
    rejected: Omit<DeadLetter, 'id'>[],
    sinks: SinkRuntime[],
  ): Promise<void> {
    const jobs: Promise<void>[] = [];
    if (rejected.length > 0) jobs.push(this.storeDeadLetters(rejected));
    if (out.length > 0)
      for (const s of sinks) jobs.push(this.retryStorage(s.plan.name, () => this.enqueue(s, out)));
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private enqueue(s: SinkRuntime, messages: Message[]): Promise<void> {
    const stored = s.outbox.enqueue(messages);
    // Stopping: nothing more can join an open batch, so waiting for its maxWait would only spend the
    // shutdown timeout that its write needs.
    if (this.state === 'stopping') s.outbox.flushOpen();
    return stored;
  }

  private async storeDeadLetters(entries: Omit<DeadLetter, 'id'>[]): Promise<void> {
    await this.retryStorage('dead-letters', () => this.dlq.add(entries));
    const byStage = new Map<string, number>();
    for (const e of entries) byStage.set(e.stage, (byStage.get(e.stage) ?? 0) + 1);
    for (const [stage, count] of byStage) {
      this.deps.metrics.deadLettered.inc({ pipeline: this.name, stage }, count);
      this.log.warn(
        { component: stage, count, reason: redact(entries.find((e) => e.stage === stage)!.reason) },
        'messages dead-lettered',
      );
    }
  }

  private async retryStorage(target: string, store: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await store();
      } catch (error) {
        if (this.abort.signal.aborted && attempt > 0) throw error;
        this.deps.metrics.enqueueFailures.inc({ pipeline: this.name, sink: target });
        const delay = backoffDelay(attempt, 100, 5000);
        this.log.warn(
          { component: target, attempt: attempt + 1, delayMs: delay, err: redact(errorMessage(error)) },
          'storing messages failed, retrying',
        );
        await sleep(delay, attempt > 0 ? this.abort.signal : undefined);
      }
    }
  }

  private transformContext(
    component: string,
    rejected: Omit<DeadLetter, 'id'>[],
    onReject?: () => void,
  ): TransformContext {
    return transformContext(this.chainDeps(), component, rejected, onReject);
  }

  private deadLetterOf(message: Message, stage: string, reason: string): Omit<DeadLetter, 'id'> {
    return deadLetterOf(this.name, message, stage, reason);
  }

  private remember(batch: Message[]): void {
    const now = Date.now();
    this.current.recordBatch(batch, now);
    for (let i = Math.max(0, batch.length - RECENT_MESSAGES); i < batch.length; i++) {
      const m = batch[i]!;
      // Kept as they are and bounded when shown (status()), which is rarer than a batch.
      this.recent.push({ id: m.id, time: m.time, payload: m.payload, meta: m.meta });
    }
    if (this.recent.length > RECENT_MESSAGES) this.recent.splice(0, this.recent.length - RECENT_MESSAGES);
  }

  /** Re-drives dead letters that an operator asked to replay (`passerelle dlq replay`). */
  private async runReplayLoop(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      await sleep(1000, signal);
      if (signal.aborted) break;
      try {
        const entries = await this.dlq.claimReplays(this.name, 500);
        if (entries.length === 0) continue;
        for (const e of entries) {
          const sink = this.sinks.find((s) => s.plan.name === e.stage);
          if (sink) {
            await this.settle([e.message], [], [sink]);
          } else {
            const rejected: Omit<DeadLetter, 'id'>[] = [];
            const from = /^transforms\[(\d+)\]$/.exec(e.stage);
            const out = await this.exclusive(() =>
              this.runTransforms([e.message], from ? Number(from[1]) : 0, rejected),
            );
            await this.settle(out, rejected, this.sinks);
          }
        }
        await this.dlq.replayDone(
          this.name,
          entries.map((e) => e.id),
        );
        // Replayed messages start a new life: counted again as received, so the counters still reconcile.
        this.deps.metrics.replayed.inc({ pipeline: this.name }, entries.length);
        this.log.info({ count: entries.length }, 'dead letters replayed');
      } catch (error) {
        this.log.warn({ err: redact(errorMessage(error)) }, 'replaying dead letters failed, will try again');
      }
    }
  }

  private connectWithRetry(
    label: string,
    status: ComponentStatus,
    connect: (signal: AbortSignal) => Promise<void>,
  ): Promise<void> {
    return connectWithRetry(label, status, connect, this.abort.signal, this.log, (st, state, error) =>
      this.setComponentState(st, state, error),
    );
  }

  private setComponentState(status: ComponentStatus, state: ConnectionState, error?: Error): void {
    const labels = { pipeline: this.name, component: status.component, type: status.type };
    if (status.state === 'connected' && state !== 'connected' && state !== 'stopped')
      this.deps.metrics.reconnects.inc({ pipeline: this.name, component: status.component });
    status.state = state;
    if (error) status.lastError = { message: redact(errorMessage(error)), time: Date.now() };
    this.deps.metrics.connected.set(labels, state === 'connected' ? 1 : 0);
    this.outboxOfSink.get(status)?.setConnected(state === 'connected');
  }

  private componentContext(
    component: string,
    type: string,
    status: ComponentStatus | undefined,
  ): ComponentContext {
    return componentContext(
      {
        ...this.contextDeps(),
        stateLogLevel: 'info',
        ...(status ? { setState: (state, error) => this.setComponentState(status, state, error) } : {}),
        deadLetter: (stage, message, reason) =>
          this.storeDeadLetters([this.deadLetterOf(message, stage, reason)]),
      },
      component,
      type,
    );
  }

  private contextDeps(): PipelineContextDeps {
    const { metrics, redisUrl, identity, memoryBudget } = this.deps;
    return { pipeline: this.name, log: this.log, metrics, redisUrl, identity, memoryBudget };
  }

  private leaseOwner(component: string): string {
    return leaseOwner(this.contextDeps(), component);
  }

  private async closeQuietly(component: string, close: () => Promise<void>): Promise<void> {
    try {
      await withDeadline(close(), 5000);
    } catch (error) {
      this.log.warn({ component, err: redact(errorMessage(error)) }, 'close failed');
    }
  }
}
