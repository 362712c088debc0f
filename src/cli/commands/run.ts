import type { Command } from 'commander';
import { loadPipelinesOrThrow, type PipelineConfig } from '../../config/index.js';
import { createOutboxBackend } from '../../outbox/index.js';
import { createLogger } from '../../runtime/logger.js';
import { parseListen } from '../../runtime/http.js';
import { toPlan } from '../../runtime/plan.js';
import { Service } from '../../runtime/service.js';
import { parseDuration } from '../../sdk/index.js';
import type { CliDeps } from '../deps.js';
import { packageVersion } from '../version.js';

export interface RunOptions {
  redis?: string;
  http: string | false;
}

export const MEMORY_OUTBOX_WARNING =
  'No Redis configured (--redis or PASSERELLE_REDIS_URL): using the MEMORY outbox. Messages in flight are LOST if the process crashes or is killed; use Redis for at-least-once delivery.';

/** Starts the service for the given pipelines and resolves with its exit code once it has stopped. */
export async function runService(
  pipelines: PipelineConfig[],
  options: RunOptions,
  deps: CliDeps,
  beforeStart?: () => void,
): Promise<number> {
  const logger = createLogger({ level: deps.env.PASSERELLE_LOG_LEVEL });
  const redisUrl = options.redis ?? deps.env.PASSERELLE_REDIS_URL;
  if (!redisUrl) {
    deps.stderr(`WARNING: ${MEMORY_OUTBOX_WARNING}\n`);
    logger.warn({ outbox: 'memory' }, MEMORY_OUTBOX_WARNING);
  }
  const plans = pipelines.map((p) => toPlan(p, deps.registry));
  // One dead-letter store serves every pipeline: it keeps the most generous of their retention settings.
  const late: { service?: Service } = {};
  const retention = {
    maxAgeMs: Math.max(...plans.map((p) => p.deadLetters.maxAgeMs)),
    maxCount: Math.max(...plans.map((p) => p.deadLetters.maxCount)),
    // The store logs each trim; the counter makes it visible to alerting.
    onTrimmed: (pipeline: string, count: number) =>
      late.service?.metrics.deadLettersEvicted.inc({ pipeline }, count),
  };
  const lockDuration = deps.env.PASSERELLE_OUTBOX_LOCK_DURATION;
  const backend = await createOutboxBackend({
    redisUrl,
    retention,
    logger,
    lockDurationMs: lockDuration ? parseDuration(lockDuration) : undefined,
  });
  const service = new Service({
    plans,
    backend,
    logger,
    http: options.http === false ? undefined : parseListen(options.http),
    version: packageVersion(),
    ...(redisUrl ? { redisUrl } : {}),
  });
  late.service = service;
  const stopped = new Promise<number>((resolve) => service.handleSignals(resolve));
  await service.start();
  beforeStart?.();
  if (service.url)
    deps.stderr(
      `passerelle ${packageVersion()}: ${plans.length} pipeline(s) running; status at ${service.url}/status\n`,
    );
  return stopped;
}

export function register(program: Command, deps: CliDeps): void {
  program
    .command('run')
    .description('run every pipeline in the given files or folders (default: pipelines/)')
    .argument('[paths...]', 'pipeline files or folders', ['pipelines/'])
    .option(
      '--redis <url>',
      'Redis URL for the durable outbox (default: $PASSERELLE_REDIS_URL; without it, the memory outbox)',
    )
    .option('--http <host:port>', 'address of /healthz, /readyz, /metrics and /status', '127.0.0.1:8080')
    .option('--no-http', 'serve no HTTP endpoints')
    .action(async (paths: string[], options: RunOptions) => {
      const pipelines = await loadPipelinesOrThrow(paths, deps.registry, { env: deps.env });
      deps.setExitCode(await runService(pipelines, options, deps));
    });
}
