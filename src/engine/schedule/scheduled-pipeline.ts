import {
  boundedCopy,
  errorMessage,
  redact,
  withDeadline,
  type ComponentContext,
  type ConnectionState,
  type CopyLimits,
  type Logger,
  type MemoryBudget,
  type Message,
  SerialQueue,
} from '../../sdk/index.js';
import type { OutboxBackend } from '../../outbox/types.js';
import { componentContext } from '../component-context.js';
import { connectWithRetry, type ComponentStatus } from '../connect.js';
import { CurrentValues, type CurrentValue } from '../current-values.js';
import type { EngineMetrics } from '../metrics.js';
import type { PipelineState, PipelineStatus } from '../pipeline.js';
import type { PipelinePlan } from '../plan.js';
import { createRunTick, type RunSink } from './run.js';
import type { RunSummary, RunTick, ScheduleStatus, Scheduler, SchedulerDeps, Tick } from './types.js';

/** A scheduled pipeline's status: a streaming pipeline's, plus its schedule. */
export interface ScheduledPipelineStatus extends PipelineStatus {
  schedule: ScheduleStatus;
}

export interface ScheduledPipelineDeps {
  /** Its dead-letter store takes transform rejects and FatalError batches (runs use no outbox). */
  backend: OutboxBackend;
  metrics: EngineMetrics;
  logger: Logger;
  /** With Redis, ticks are BullMQ jobs (one replica runs each); without, the process keeps the schedule. */
  redisUrl?: string;
  identity?: string;
  memoryBudget?: MemoryBudget;
  /** Makes the pipeline's scheduler (src/engine/schedule/index.ts, maybe imported first; tests pass their own). */
  createScheduler: (deps: SchedulerDeps) => Scheduler | Promise<Scheduler>;
}

const RECENT_MESSAGES = 10;
const RECENT_LIMITS: CopyLimits = { maxDepth: 16, maxBytes: 8 * 1024, maxString: 1024 };

/**
 * What the service runs for a pipeline with a `schedule` (docs/scheduling.md): its sinks are
 * created and connected once, like a streaming pipeline's; the scheduler calls the run executor on
 * each tick, and the executor connects the source's reader for that run only.
 */
export class ScheduledPipeline {
  readonly name: string;
  private state: PipelineState = 'starting';
  private readonly sourceStatus: ComponentStatus;
  private sinks: (RunSink & { status: ComponentStatus })[] = [];
  private scheduler: Scheduler | undefined;
  private readonly abort = new AbortController();
  private connecting: Promise<void>[] = [];
  /** Starts and stops of the scheduler, one at a time (reconcileScheduler). */
  private readonly schedulerTurn = new SerialQueue();
  private readonly log: Logger;
  private readonly current = new CurrentValues();
  private recent: Message[] = [];
  private running = 0;
  /** The executor, wrapped to keep the source's state for the status page. */
  readonly runTick: RunTick;

  constructor(
    readonly plan: PipelinePlan,
    private readonly deps: ScheduledPipelineDeps,
  ) {
    if (!plan.schedule) throw new Error(`pipeline ${plan.name} has no schedule`);
    this.name = plan.name;
    this.log = deps.logger.child({ pipeline: plan.name });
    this.sourceStatus = { component: 'source', type: plan.source.type, state: 'standby' };
    const execute = createRunTick({
      plan,
      sinks: this.sinks,
      metrics: deps.metrics,
      logger: deps.logger,
      deadLetters: deps.backend.deadLetters,
      componentContext: (component, type) =>
        this.componentContext(component, type, component === 'source' ? this.sourceStatus : undefined),
      onOutput: (messages) => this.remember(messages),
    });
    this.runTick = async (tick: Tick, signal: AbortSignal): Promise<RunSummary> => {
      this.running++;
      this.setState(this.sourceStatus, 'connected');
      try {
        const summary = await execute(tick, signal);
        if (--this.running === 0) this.setState(this.sourceStatus, 'standby');
        return summary;
      } catch (error) {
        if (--this.running === 0) this.setState(this.sourceStatus, 'standby', error as Error);
        throw error;
      }
    };
  }

  /** Creates the sinks (once); `start()` and `run --once` call it. */
  private createSinks(): void {
    if (this.sinks.length > 0) return;
    for (const sp of this.plan.sinks) {
      const status: ComponentStatus = { component: sp.name, type: sp.type, state: 'connecting' };
      const sink = sp.definition.create(sp.config, this.componentContext(sp.name, sp.type, status));
      this.deps.metrics.delivered.inc({ pipeline: this.name, sink: sp.name }, 0);
      this.sinks.push({ plan: sp, sink, status });
    }
  }

  /** Connects the sinks (retrying in the background) and starts the scheduler. Returns at once. */
  start(): void {
    this.createSinks();
    this.deps.metrics.received.inc({ pipeline: this.name }, 0);
    this.connecting = this.sinks.map((s) =>
      connectWithRetry(
        `sink ${s.plan.name}`,
        s.status,
        (signal) => s.sink.connect(signal),
        this.abort.signal,
        this.log,
        (st, state, error) => this.setState(st, state, error),
      ),
    );
    this.state = 'running';
    this.reconcileScheduler();
  }

  /**
   * Runs the scheduler on this replica only while none of its sinks is in standby. A sink in standby
   * is written by another replica (the Excel folder's or the Sparkplug edge node's lease): a tick run here
   * could not write it, so the ticks are left to that replica, and this one takes them when it gets
   * the lease (the replica that had it died: its tick job is rerun here). Serialised: sinks change
   * state while a start or stop is under way.
   */
  private reconcileScheduler(): void {
    this.schedulerTurn
      .run(async () => {
        if (this.state !== 'running') return;
        const elsewhere = this.sinks.filter((s) => s.status.state === 'standby').map((s) => s.plan.name);
        if (elsewhere.length === 0 && !this.scheduler) {
          let scheduler: Scheduler;
          try {
            // May load the scheduler's code (luxon, cron-parser) first: see src/runtime/service.ts.
            scheduler = await this.deps.createScheduler({
              pipeline: this.name,
              options: this.plan.schedule!,
              logger: this.log,
              ...(this.deps.redisUrl ? { redisUrl: this.deps.redisUrl } : {}),
            });
          } catch (error) {
            this.state = 'failed';
            this.log.error({ err: redact(errorMessage(error)) }, 'the schedule could not start');
            return;
          }
          if (this.state !== 'running') return;
          this.scheduler = scheduler;
          try {
            await scheduler.start(this.runTick);
          } catch (error) {
            this.state = 'failed';
            this.log.error({ err: redact(errorMessage(error)) }, 'the schedule could not start');
          }
        } else if (elsewhere.length > 0 && this.scheduler) {
          const scheduler = this.scheduler;
          this.scheduler = undefined;
          this.log.info(
            { sinks: elsewhere },
            'another replica holds these sinks (their lease): it runs the ticks, this replica waits',
          );
          await scheduler
            .stop()
            .catch((error: unknown) =>
              this.log.warn({ err: redact(errorMessage(error)) }, 'scheduler stop failed'),
            );
        }
      })
      .catch((error: unknown) =>
        this.log.error({ err: redact(errorMessage(error)) }, 'the schedule could not be started or stopped'),
      );
  }

  /**
   * For `run --once`: creates and connects every sink once, failing (instead of retrying in the
   * background) when one can not connect.
   */
  async connectOnce(signal: AbortSignal): Promise<void> {
    this.createSinks();
    for (const s of this.sinks) {
      try {
        await s.sink.connect(signal);
        this.setState(s.status, 'connected');
      } catch (error) {
        throw new Error(`sink ${s.plan.name} could not connect: ${redact(errorMessage(error))}`, {
          cause: error,
        });
      }
    }
    this.state = 'running';
  }

  /** Stops the scheduler (a run in progress is aborted and rerun later), then closes the sinks. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    this.abort.abort();
    await this.schedulerTurn.idle();
    if (this.scheduler)
      await withDeadline(this.scheduler.stop(), this.plan.shutdownTimeoutMs).catch((error: unknown) =>
        this.log.warn({ err: redact(errorMessage(error)) }, 'scheduler stop failed'),
      );
    await Promise.allSettled(this.connecting);
    for (const s of this.sinks) {
      try {
        await withDeadline(s.sink.close(), 5000);
      } catch (error) {
        this.log.warn({ component: s.plan.name, err: redact(errorMessage(error)) }, 'close failed');
      }
      this.setState(s.status, 'stopped');
    }
    this.state = 'stopped';
  }

  /** True when running and every sink is connected (the source is only read during a run). */
  ready(): boolean {
    return (
      this.state === 'running' &&
      this.sinks.every((s) => s.status.state === 'connected' || s.status.state === 'standby')
    );
  }

  /** Before a /metrics scrape: a scheduled pipeline has no outbox, its gauges are set by its runs. */
  refreshGauges(): Promise<ScheduledPipelineStatus['outboxes']> {
    return Promise.resolve({});
  }

  async status(): Promise<ScheduledPipelineStatus> {
    const delivery: Record<string, string> = {};
    const durable = this.deps.redisUrl !== undefined;
    const src = this.plan.source.definition.delivery(this.plan.source.config);
    for (const s of this.sinks) {
      const sink = s.plan.definition.delivery(s.plan.config);
      // A run is rerun whole until it completes: at-least-once when the tick itself survives (Redis).
      delivery[s.plan.name] =
        durable && src === 'at-least-once' && sink === 'at-least-once' ? 'at-least-once' : 'best-effort';
    }
    const components = [this.sourceStatus, ...this.sinks.map((s) => s.status)];
    let state = this.state;
    if (state === 'running' && !this.ready()) state = 'reconnecting';
    return {
      name: this.name,
      state,
      delivery,
      components,
      inFlight: 0,
      outboxes: {},
      recent: this.recent.map((m) => ({
        id: m.id,
        time: m.time,
        payload:
          m.payload instanceof Uint8Array
            ? { bytes: m.payload.byteLength }
            : boundedCopy(m.payload, RECENT_LIMITS),
        meta: boundedCopy(m.meta, RECENT_LIMITS) as Record<string, unknown>,
      })),
      current: { cap: this.current.cap, evicted: this.current.evicted, values: this.currentValues() },
      schedule: this.scheduleStatus(),
    };
  }

  private scheduleStatus(): ScheduleStatus {
    if (this.scheduler) return this.scheduler.status();
    const s = this.plan.schedule!;
    return {
      description: s.cron !== undefined ? `cron ${s.cron} ${s.timeZone}` : `every ${s.every} ms`,
      store: this.deps.redisUrl ? 'redis' : 'process',
      missed: 0,
    };
  }

  currentValues(limits: CopyLimits = RECENT_LIMITS): CurrentValue[] {
    return this.current.list().map((v) => ({
      ...v,
      payload:
        v.payload instanceof Uint8Array ? { bytes: v.payload.byteLength } : boundedCopy(v.payload, limits),
    }));
  }

  private remember(batch: Message[]): void {
    const now = Date.now();
    this.current.recordBatch(batch, now);
    this.recent.push(...batch.slice(-RECENT_MESSAGES));
    if (this.recent.length > RECENT_MESSAGES) this.recent.splice(0, this.recent.length - RECENT_MESSAGES);
  }

  private setState(status: ComponentStatus, state: ConnectionState, error?: Error): void {
    const labels = { pipeline: this.name, component: status.component, type: status.type };
    if (status.state === 'connected' && (state === 'reconnecting' || state === 'disconnected'))
      this.deps.metrics.reconnects.inc({ pipeline: this.name, component: status.component });
    const was = status.state;
    status.state = state;
    if (error) status.lastError = { message: redact(errorMessage(error)), time: Date.now() };
    if (status !== this.sourceStatus && (was === 'standby') !== (state === 'standby'))
      this.reconcileScheduler();
    // The source of a scheduled pipeline is connected during runs only: standby is its healthy state.
    this.deps.metrics.connected.set(labels, state === 'connected' || state === 'standby' ? 1 : 0);
  }

  private componentContext(
    component: string,
    type: string,
    status: ComponentStatus | undefined,
  ): ComponentContext {
    const { metrics, redisUrl, identity, memoryBudget, backend } = this.deps;
    return componentContext(
      {
        pipeline: this.name,
        log: this.log,
        metrics,
        redisUrl,
        identity,
        memoryBudget,
        // The source connects for each run: its state changes are routine.
        stateLogLevel: 'debug',
        ...(status ? { setState: (state, error) => this.setState(status, state, error) } : {}),
        deadLetter: async (stage, message, reason) => {
          await backend.deadLetters.add([
            { pipeline: this.name, stage, reason, message, time: Date.now(), attempts: 1 },
          ]);
          metrics.deadLettered.inc({ pipeline: this.name, stage });
        },
      },
      component,
      type,
    );
  }
}
