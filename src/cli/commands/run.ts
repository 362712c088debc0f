import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { loadPipelinesOrThrow, pipelineWarnings, type PipelineConfig } from '../../config/index.js';
import { formatPath } from '../../config/schema-walk.js';
import type { Registry } from '../../registry/index.js';
import { createOutboxBackend, type TrimCause } from '../../outbox/index.js';
import { createLogger, resolveLogFormat } from '../../runtime/logger.js';
import { parseAllowedHosts, parseListen } from '../../runtime/http.js';
import { toPlan } from '../../runtime/plan.js';
import { Service } from '../../runtime/service.js';
import { ConfigReloader } from '../../runtime/reload.js';
import { releaseCompilers, releaseYoungGeneration } from '../../runtime/heap-settings.js';
import {
  MemoryBudget,
  parseByteSize,
  parseDuration,
  printable,
  redact,
  registerSecret,
  type Logger,
} from '../../sdk/index.js';
import type { CliDeps } from '../deps.js';
import { packageVersion } from '../version.js';

export interface RunOptions {
  redis?: string;
  http: string | false;
  /** Pipeline files and folders to reload from on SIGHUP and (with `watch`) when they change. */
  paths?: string[];
  /** Watch `paths` for changes (`--no-watch` turns it off; SIGHUP still reloads). */
  watch?: boolean;
  adminTokenFile?: string;
  /** Host names the HTTP server answers to, besides its address and localhost (`--allowed-host`). */
  allowedHost?: string[];
  /** `--memory-budget`: bytes of messages held in memory by the whole process (default 16MiB). */
  memoryBudget?: string;
  /** `--log-format json|pretty` (default: pretty on a terminal, JSON otherwise). */
  logFormat?: string;
  /** `--once`: run one tick of a scheduled pipeline now and exit (see run-once.ts). */
  once?: boolean;
  /** With `--once`: which pipeline, when the paths hold several. */
  pipeline?: string;
  /** With `--once`: `<ISO start>/<ISO end>` instead of the window of a tick now. */
  window?: string;
}

/** Default memory budget: a small gateway (a 256 Mi container holds the service, its code and this). */
export const DEFAULT_MEMORY_BUDGET = '16MiB';

/** The process's memory budget from `--memory-budget` or PASSERELLE_MEMORY_BUDGET, validated. */
export function memoryBudgetOf(options: RunOptions, env: CliDeps['env']): MemoryBudget {
  const [text, where] =
    options.memoryBudget !== undefined
      ? [options.memoryBudget, '--memory-budget']
      : env.PASSERELLE_MEMORY_BUDGET !== undefined
        ? [env.PASSERELLE_MEMORY_BUDGET, 'PASSERELLE_MEMORY_BUDGET']
        : [DEFAULT_MEMORY_BUDGET, 'default'];
  const bytes = parseByteSize(text);
  if (bytes === undefined || bytes < 1024 * 1024)
    throw new Error(
      `${where}: expected a size of at least 1MiB such as 16MiB, 64MB or 1GiB, got "${printable(text)}"`,
    );
  return new MemoryBudget(bytes);
}

/** The `--log-format` option of the commands that run pipelines. */
export const LOG_FORMAT_OPTION = [
  '--log-format <format>',
  'json (one object per line, on stdout) or pretty (one short line per event, on stderr); default: pretty on a terminal, json otherwise; also $PASSERELLE_LOG_FORMAT',
] as const;

/**
 * The console's admin token: PASSERELLE_ADMIN_TOKEN, or a file (a mounted Secret). It is a secret:
 * registered for redaction, never printed.
 */
export function readAdminToken(options: RunOptions, env: CliDeps['env']): string | undefined {
  let token = env.PASSERELLE_ADMIN_TOKEN;
  if (options.adminTokenFile) {
    try {
      token = readFileSync(options.adminTokenFile, 'utf8').trim();
    } catch (error) {
      throw new Error(`--admin-token-file ${options.adminTokenFile}: ${(error as Error).message}`);
    }
  }
  if (token === undefined || token === '') return undefined;
  registerSecret(token);
  if (token.length < 16)
    throw new Error('the admin token must be at least 16 characters (e.g. `openssl rand -hex 24`)');
  return token;
}

/** The components' warnings about valid settings (as `validate` prints them), in the log and on stderr. */
export function logConfigWarnings(
  pipelines: PipelineConfig[],
  registry: Registry,
  logger: Logger,
  stderr: ((text: string) => void) | undefined,
): void {
  for (const pipeline of pipelines)
    for (const w of pipelineWarnings(pipeline, registry)) {
      const path = formatPath(w.path);
      logger.warn({ pipeline: pipeline.name, path }, w.message);
      stderr?.(`WARNING: pipeline ${pipeline.name}, ${path}: ${redact(w.message)}\n`);
    }
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
  const format = resolveLogFormat(options.logFormat, deps.env);
  const logger = createLogger({ level: deps.env.PASSERELLE_LOG_LEVEL, format });
  // JSON logs go to stdout, for a collector: the warnings a person must see also go to stderr.
  // Pretty logs are on stderr already.
  const alsoOnStderr = format === 'json' ? deps.stderr : undefined;
  const adminToken = readAdminToken(options, deps.env);
  const allowedHosts = parseAllowedHosts([
    ...(deps.env.PASSERELLE_ALLOWED_HOSTS ? [deps.env.PASSERELLE_ALLOWED_HOSTS] : []),
    ...(options.allowedHost ?? []),
  ]);
  const memoryBudget = memoryBudgetOf(options, deps.env);
  const redisUrl = options.redis ?? deps.env.PASSERELLE_REDIS_URL;
  // The memory backend logs it once; stderr gets the loud version.
  if (!redisUrl) alsoOnStderr?.(`WARNING: ${MEMORY_OUTBOX_WARNING}\n`);
  logConfigWarnings(pipelines, deps.registry, logger, alsoOnStderr);
  const plans = await Promise.all(pipelines.map((p) => toPlan(p, deps.registry)));
  // One dead-letter store serves every pipeline: it keeps the most generous of their retention settings.
  const late: { service?: Service } = {};
  const retention = {
    maxAgeMs: Math.max(...plans.map((p) => p.deadLetters.maxAgeMs)),
    maxCount: Math.max(...plans.map((p) => p.deadLetters.maxCount)),
    maxMessageBytes: Math.max(...plans.map((p) => p.deadLetters.maxMessageBytes ?? 0)),
    maxBytes: Math.max(...plans.map((p) => p.deadLetters.maxBytes ?? 0)),
    // The store logs each trim; the counter makes it visible to alerting.
    onTrimmed: (pipeline: string, count: number, cause: TrimCause) =>
      late.service?.metrics.deadLettersEvicted.inc({ pipeline, cause }, count),
  };
  const lockDuration = deps.env.PASSERELLE_OUTBOX_LOCK_DURATION;
  const leaseTtl = deps.env.PASSERELLE_LEASE_TTL;
  const leaseTtlMs = leaseTtl === undefined ? undefined : parseDuration(leaseTtl);
  if (leaseTtl !== undefined && (leaseTtlMs === undefined || leaseTtlMs < 500))
    throw new Error(
      `PASSERELLE_LEASE_TTL: expected a duration of at least 500ms such as 15s, got "${leaseTtl}"`,
    );
  // Owner of this replica's leases: a restart with the same identity takes them back at once.
  const identity = deps.env.PASSERELLE_IDENTITY?.trim() || hostname();
  if (redisUrl) logger.info({ identity }, 'replica identity (owner of its leases)');
  const backend = await createOutboxBackend({
    redisUrl,
    retention,
    logger,
    lockDurationMs: lockDuration ? parseDuration(lockDuration) : undefined,
    memoryBudget,
  });
  logger.info({ memoryBudget: memoryBudget.limit }, 'memory budget (bytes of messages held in memory)');
  const service = new Service({
    plans,
    backend,
    logger,
    http: options.http === false ? undefined : { ...parseListen(options.http), allowedHosts },
    version: packageVersion(),
    ...(redisUrl ? { redisUrl } : {}),
    ...(adminToken ? { adminToken } : {}),
    ...(leaseTtlMs ? { leaseTtlMs } : {}),
    identity,
    memoryBudget,
  });
  late.service = service;
  const stopped = new Promise<number>((resolve) => service.handleSignals(resolve));
  await service.start();
  releaseYoungGeneration();
  releaseCompilers();
  const paths = options.paths;
  const reloader = paths
    ? new ConfigReloader({
        paths,
        load: async () =>
          Promise.all(
            (await loadPipelinesOrThrow(paths, deps.registry, { env: deps.env })).map((p) =>
              toPlan(p, deps.registry),
            ),
          ),
        apply: (next) => service.applyPlans(next),
        onResult: (result) => service.recordReload(result),
        logger,
        registry: service.metrics.registry,
        watch: options.watch ?? true,
      })
    : undefined;
  reloader?.start();
  void stopped.then(() => reloader?.stop());
  beforeStart?.();
  if (service.url)
    deps.stderr(
      `passerelle ${packageVersion()}: ${plans.length} pipeline(s) running; status page at ${service.url}/\n`,
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
    .option(
      '--http <host:port>',
      'address of the status page (/), /healthz, /readyz, /metrics and /status',
      '127.0.0.1:8080',
    )
    .option('--no-http', 'serve no HTTP endpoints')
    .option(
      '--memory-budget <size>',
      `bytes of messages held in memory by the whole process, shared by every pipeline; past it sources pause (default: $PASSERELLE_MEMORY_BUDGET or ${DEFAULT_MEMORY_BUDGET})`,
    )
    .option('--no-watch', 'do not reload when the pipeline files change (SIGHUP still reloads)')
    .option(
      '--allowed-host <name>',
      'a host name the HTTP server answers to besides its address and localhost (repeatable; .example.com allows every name under it); also $PASSERELLE_ALLOWED_HOSTS, comma-separated',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option(
      '--admin-token-file <path>',
      "file holding the token for the status page's actions (replay, purge); default: $PASSERELLE_ADMIN_TOKEN",
    )
    .option(...LOG_FORMAT_OPTION)
    .option(
      '--once',
      "run one tick of a scheduled pipeline now, in this process, print the run's manifest (JSON) and exit: 0 when the run completed",
    )
    .option('--pipeline <name>', 'with --once: the pipeline to run, when the paths hold several')
    .option(
      '--window <start/end>',
      "with --once: the period to read, ISO 8601 (2026-12-04T00:00/2026-12-05T00:00; without an offset, in the schedule's time zone); default: the window of a tick now",
    )
    .action(async (paths: string[], options: RunOptions) => {
      if (!options.once && (options.pipeline !== undefined || options.window !== undefined))
        throw new Error('--pipeline and --window go with --once');
      const pipelines = await loadPipelinesOrThrow(paths, deps.registry, { env: deps.env });
      if (options.once) {
        releaseYoungGeneration();
        releaseCompilers();
        // Loaded here: the schedule's code (luxon, cron-parser) is not for a streaming service.
        const { runOnce } = await import('./run-once.js');
        deps.setExitCode(await runOnce(pipelines, options, deps));
        return;
      }
      const work = async () => deps.setExitCode(await runService(pipelines, { ...options, paths }, deps));
      if (deps.afterParsing) deps.afterParsing(work);
      else await work();
    });
}
