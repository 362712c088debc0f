import { hostname } from 'node:os';
import { Counter, Gauge, Registry, collectDefaultMetrics } from '../engine/prom-client.js';
import { Pipeline } from '../engine/pipeline.js';
import { ScheduledPipeline } from '../engine/schedule/scheduled-pipeline.js';
import { ScheduleMetrics } from '../engine/schedule/metrics.js';
import type { Scheduler, SchedulerDeps } from '../engine/schedule/types.js';
import { EngineMetrics } from '../engine/metrics.js';
import type { PipelinePlan } from '../engine/plan.js';
import type { OutboxBackend } from '../outbox/types.js';
import { SerialQueue, errorMessage, redact, type Logger, type MemoryBudget } from '../sdk/index.js';
import { startHttpServer } from './http.js';
import { pipelineFingerprint, type ReloadResult, type ReloadSummary } from './reload.js';

export interface ServiceOptions {
  plans: PipelinePlan[];
  backend: OutboxBackend;
  logger: Logger;
  /** `allowedHosts`: names answered besides the bound address and localhost (DNS-rebinding guard). */
  http?: { host: string; port: number; allowedHosts?: readonly string[] };
  /** The Redis URL of the outbox, handed to components that share state between replicas. */
  redisUrl?: string;
  /** Lease time-to-live for single-reader sources when running with Redis (default 15 s). */
  leaseTtlMs?: number;
  /** This replica's identity, owner of its leases (default: the host name). */
  identity?: string;
  /** Token for the console's actions (replay, purge), and for reading it from the network. */
  adminToken?: string;
  version?: string;
  /** How often this replica shares its status page figures through Redis (default 5 s). */
  replicaShareMs?: number;
  /** The process's memory budget, shared by every pipeline's sources and memory outboxes. */
  memoryBudget?: MemoryBudget;
  /** Makes the scheduler of each pipeline with a `schedule` (default: src/engine/schedule's; tests pass their own). */
  createScheduler?: (deps: SchedulerDeps) => Scheduler;
}

/** What the service runs: a streaming pipeline, or a scheduled one (a `schedule` in its file). */
export type ServicePipeline = Pipeline | ScheduledPipeline;

/** The running service: every pipeline, the HTTP endpoints, and an orderly stop. */
export class Service {
  /** The running pipelines; `applyPlans()` replaces entries in place. */
  readonly pipelines: ServicePipeline[];
  /**
   * Each running pipeline's plan, fingerprinted at the first reload that compares it: hashing at
   * start would load node:crypto in every relay, which needs it only when a configuration changes
   * (plans are not modified once made).
   */
  private readonly fingerprints = new WeakMap<ServicePipeline, { plan: PipelinePlan; hash?: string }>();
  private readonly applying = new SerialQueue();
  readonly metrics: EngineMetrics;
  /** `passerelle_schedule_*`, made with the first scheduled pipeline. */
  private scheduleMetrics: ScheduleMetrics | undefined;
  private http: Awaited<ReturnType<typeof startHttpServer>> | undefined;
  private stopping: Promise<void> | undefined;
  private readonly startedAt = Date.now();
  /** The configuration reloads as the status page shows them: the last one, and since when it is invalid. */
  private reloadState: {
    state: 'none' | 'ok' | 'refused';
    at?: number;
    error?: string;
    invalidSince?: number;
    validAgainAt?: number;
  } = { state: 'none' };

  constructor(private readonly options: ServiceOptions) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    this.metrics = new EngineMetrics(registry);
    if (options.memoryBudget) registerBudgetMetrics(registry, options.memoryBudget);
    this.pipelines = options.plans.map((plan) => this.createPipeline(plan));
  }

  private createPipeline(plan: PipelinePlan): ServicePipeline {
    const { options } = this;
    if (plan.schedule) {
      this.scheduleMetrics ??= new ScheduleMetrics(this.metrics.registry);
      const metrics = this.scheduleMetrics;
      const scheduled = new ScheduledPipeline(plan, {
        backend: options.backend,
        metrics: this.metrics,
        logger: options.logger,
        // The scheduler's code (cron, time zones: luxon and cron-parser) loads with the first
        // scheduled pipeline that starts, not for every configuration (docs/architecture.md).
        createScheduler: async (deps) =>
          (options.createScheduler ?? (await import('../engine/schedule/index.js')).createScheduler)({
            ...deps,
            metrics,
          }),
        ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}),
        ...(options.identity ? { identity: options.identity } : {}),
        ...(options.memoryBudget ? { memoryBudget: options.memoryBudget } : {}),
      });
      this.fingerprints.set(scheduled, { plan });
      return scheduled;
    }
    const pipeline = new Pipeline(plan, {
      backend: options.backend,
      metrics: this.metrics,
      logger: options.logger,
      ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}),
      ...(options.leaseTtlMs ? { leaseTtlMs: options.leaseTtlMs } : {}),
      ...(options.identity ? { identity: options.identity } : {}),
      ...(options.memoryBudget ? { memoryBudget: options.memoryBudget } : {}),
    });
    this.fingerprints.set(pipeline, { plan });
    return pipeline;
  }

  private fingerprintOf(pipeline: ServicePipeline): string | undefined {
    const entry = this.fingerprints.get(pipeline);
    if (entry) entry.hash ??= pipelineFingerprint(entry.plan);
    return entry?.hash;
  }

  /**
   * Moves to a new set of pipelines without a restart: unchanged ones keep running, changed ones
   * drain (like a stop) and start again with the new config, removed ones stop, new ones start.
   * Calls run one after the other; after stop() they change nothing.
   */
  applyPlans(plans: PipelinePlan[]): Promise<ReloadSummary> {
    return this.applying.run(async (): Promise<ReloadSummary> => {
      const summary: ReloadSummary = { unchanged: [], changed: [], added: [], removed: [] };
      if (this.stopping) return summary;
      const wanted = new Map(plans.map((plan) => [plan.name, plan]));
      const current = new Map(this.pipelines.map((p) => [p.name, p]));
      const outgoing: ServicePipeline[] = [];
      for (const [name, pipeline] of current) {
        const plan = wanted.get(name);
        if (!plan) summary.removed.push(name);
        else if (this.fingerprintOf(pipeline) === pipelineFingerprint(plan)) summary.unchanged.push(name);
        else summary.changed.push(name);
        if (!plan || summary.changed.includes(name)) outgoing.push(pipeline);
      }
      for (const name of wanted.keys()) if (!current.has(name)) summary.added.push(name);
      if (outgoing.length === 0 && summary.added.length === 0) return summary;
      this.options.logger.info(summary, 'configuration changed: applying');
      // Changed pipelines drain before their successors start: one reader of a source at a time.
      await Promise.all(outgoing.map((p) => p.stop()));
      await this.forgetSchedules(outgoing, wanted);
      const next = plans.map((plan) =>
        summary.unchanged.includes(plan.name) ? current.get(plan.name)! : this.createPipeline(plan),
      );
      this.pipelines.splice(0, this.pipelines.length, ...next);
      for (const p of next) {
        if (summary.unchanged.includes(p.name)) continue;
        try {
          p.start();
        } catch (error) {
          // It stays listed and not ready, so /readyz and the status page show it.
          this.options.logger.error({ pipeline: p.name, err: String(error) }, 'pipeline failed to start');
        }
      }
      return summary;
    });
  }

  /**
   * A scheduled pipeline removed from the configuration, or left without a `schedule`, has its job
   * scheduler, next tick job and shared status removed from Redis: left there, the tick jobs would go
   * on being added for any replica still running it, and a pipeline of that name added back later
   * would count the ticks since as missed. A changed schedule needs nothing here: its successor's
   * scheduler replaces the job scheduler when it starts. A plain stop removes nothing (the schedule
   * outlives a replica).
   */
  private async forgetSchedules(
    outgoing: ServicePipeline[],
    wanted: Map<string, PipelinePlan>,
  ): Promise<void> {
    const { redisUrl, logger } = this.options;
    if (!redisUrl) return;
    const gone = outgoing.filter((p) => p instanceof ScheduledPipeline && !wanted.get(p.name)?.schedule);
    await Promise.all(
      gone.map(async ({ name }) => {
        try {
          await (await import('../engine/schedule/index.js')).removeSchedule({ redisUrl, pipeline: name });
          logger.info({ pipeline: name }, 'schedule removed from redis (no longer in the configuration)');
        } catch (error) {
          logger.warn(
            { pipeline: name, err: redact(errorMessage(error)) },
            'schedule: could not remove it from redis; its job scheduler stays until removed by hand',
          );
        }
      }),
    );
  }

  /** Records a reload's result for the status page (ConfigReloader's `onResult`). */
  recordReload(result: ReloadResult, now = Date.now()): void {
    const previous = this.reloadState;
    if (result.result === 'refused')
      this.reloadState = {
        state: 'refused',
        at: now,
        error: result.error,
        invalidSince: previous.state === 'refused' ? (previous.invalidSince ?? now) : now,
      };
    else
      this.reloadState = {
        state: 'ok',
        at: now,
        ...(previous.state === 'refused' ? { validAgainAt: now } : {}),
        ...(previous.state === 'ok' && previous.validAgainAt ? { validAgainAt: previous.validAgainAt } : {}),
      };
  }

  get url(): string | undefined {
    return this.http?.url;
  }

  async start(): Promise<void> {
    const { logger, backend } = this.options;
    if (this.options.http) {
      this.http = await startHttpServer({
        ...this.options.http,
        pipelines: () => this.pipelines,
        metrics: this.metrics.registry,
        logger,
        deadLetters: backend.deadLetters,
        ...(backend.replicas
          ? {
              replicas: {
                board: backend.replicas,
                replica: this.options.identity ?? hostname(),
                startedAt: this.startedAt,
                ...(this.options.replicaShareMs ? { everyMs: this.options.replicaShareMs } : {}),
              },
            }
          : {}),
        ...(this.options.adminToken ? { adminToken: this.options.adminToken } : {}),
        info: () => ({
          version: this.options.version,
          outbox: backend.kind,
          startedAt: new Date(this.startedAt).toISOString(),
          uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
          replica: this.options.identity ?? hostname(),
          redis: backend.health?.() ?? { state: 'none' },
          reload: this.reloadState,
        }),
      });
      logger.info(
        { url: this.http.url },
        'HTTP endpoints: / (status page) /healthz /readyz /metrics /status',
      );
    }
    for (const p of this.pipelines) p.start();
    logger.info({ pipelines: this.pipelines.map((p) => p.name), outbox: backend.kind }, 'passerelle started');
  }

  /** Stops every pipeline (each within its shutdown deadline), then the backend and the HTTP server. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.options.logger.info({}, 'stopping: no new reads, finishing in-flight work');
      // Readiness goes false at once (each pipeline leaves `running` synchronously), then the drain.
      const draining = this.pipelines.map((p) => p.stop());
      await this.applying.idle(); // a reload under way finishes first; what it started is stopped too
      await Promise.all([...draining, ...this.pipelines.map((p) => p.stop())]);
      await this.options.backend.close();
      await this.http?.close();
      this.options.logger.info({}, 'stopped');
    })();
    return this.stopping;
  }

  /** SIGTERM / SIGINT stop the service gracefully; a second signal exits at once. */
  handleSignals(onStopped: (code: number) => void): void {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        this.options.logger.warn({ signal }, 'second signal: exiting now');
        onStopped(130);
        return;
      }
      this.options.logger.info({ signal }, 'signal received');
      this.stop().then(
        () => onStopped(0),
        (error: unknown) => {
          this.options.logger.error({ err: String(error) }, 'stop failed');
          onStopped(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
}

/** Read when scraped: nothing is updated per message. */
function registerBudgetMetrics(registry: Registry, budget: MemoryBudget): void {
  new Gauge({
    name: 'passerelle_memory_budget_bytes',
    help: 'The memory budget (state="limit"), the message bytes held in memory now (state="used") and at most since start (state="peak").',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.set({ state: 'limit' }, budget.limit);
      this.set({ state: 'used' }, budget.used);
      this.set({ state: 'peak' }, budget.peak);
    },
  });
  let reported = 0;
  new Counter({
    name: 'passerelle_memory_budget_waits_total',
    help: 'Times a source stopped taking messages because the memory budget was spent (backpressure, nothing dropped).',
    registers: [registry],
    collect() {
      this.inc(budget.waits - reported);
      reported = budget.waits;
    },
  });
}
