import { Registry, collectDefaultMetrics } from 'prom-client';
import { Pipeline } from '../engine/pipeline.js';
import { EngineMetrics } from '../engine/metrics.js';
import type { PipelinePlan } from '../engine/plan.js';
import type { OutboxBackend } from '../outbox/types.js';
import type { Logger } from '../sdk/index.js';
import { startHttpServer } from './http.js';

export interface ServiceOptions {
  plans: PipelinePlan[];
  backend: OutboxBackend;
  logger: Logger;
  http?: { host: string; port: number };
  /** The Redis URL of the outbox, handed to components that share state between replicas. */
  redisUrl?: string;
  version?: string;
}

/** The running service: every pipeline, the HTTP endpoints, and an orderly stop. */
export class Service {
  readonly pipelines: Pipeline[];
  readonly metrics: EngineMetrics;
  private http: Awaited<ReturnType<typeof startHttpServer>> | undefined;
  private stopping: Promise<void> | undefined;
  private readonly startedAt = Date.now();

  constructor(private readonly options: ServiceOptions) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'passerelle_process_' });
    this.metrics = new EngineMetrics(registry);
    this.pipelines = options.plans.map(
      (plan) =>
        new Pipeline(plan, {
          backend: options.backend,
          metrics: this.metrics,
          logger: options.logger,
          ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}),
        }),
    );
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
        info: () => ({
          version: this.options.version,
          outbox: backend.kind,
          startedAt: new Date(this.startedAt).toISOString(),
        }),
      });
      logger.info({ url: this.http.url }, 'HTTP endpoints: /healthz /readyz /metrics /status');
    }
    for (const p of this.pipelines) p.start();
    logger.info({ pipelines: this.pipelines.map((p) => p.name), outbox: backend.kind }, 'passerelle started');
  }

  /** Stops every pipeline (each within its shutdown deadline), then the backend and the HTTP server. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.options.logger.info({}, 'stopping: no new reads, finishing in-flight work');
      await Promise.all(this.pipelines.map((p) => p.stop()));
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
