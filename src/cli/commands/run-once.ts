import { DateTime } from 'luxon';
import type { PipelineConfig } from '../../config/index.js';
import { EngineMetrics } from '../../engine/metrics.js';
import { tickClock, tickWindow } from '../../engine/schedule/index.js';
import { runId } from '../../engine/schedule/run.js';
import { ScheduledPipeline } from '../../engine/schedule/scheduled-pipeline.js';
import type { RunSummary, Tick } from '../../engine/schedule/types.js';
import { createMemoryBackend, createOutboxBackend } from '../../outbox/index.js';
import type { OutboxBackend } from '../../outbox/types.js';
import { createLogger, resolveLogFormat } from '../../runtime/logger.js';
import { toPlan } from '../../runtime/plan.js';
import { errorMessage, printable, redact, silentLogger, type RunWindow } from '../../sdk/index.js';
import type { CliDeps } from '../deps.js';

/*
 * `passerelle run --once`: one tick of a scheduled pipeline, now, in this process (backfills, tests,
 * a cron job of your own). No Redis needed: with one, dead letters go to its store as the service's do.
 * Prints the run's manifest as JSON on stdout; the logs go to stderr.
 */

export interface RunOnceOptions {
  pipeline?: string;
  window?: string;
  redis?: string;
  logFormat?: string;
}

/** What `run --once` prints on stdout when the run completed. */
export interface RunManifest {
  pipeline: string;
  run: string;
  window: { start: string; end: string };
  scheduledAt: string;
  read: number;
  rows: Record<string, number>;
  outputs: RunSummary['outputs'];
  deadLettered: number;
  /** The run's dead letters, grouped by stage and reason (`passerelle dlq list` shows them one by one). */
  deadLetters: { stage: string; reason: string; count: number }[];
  durationMs: number;
}

/** Picks the pipeline to run once; throws a readable error when it is missing or not scheduled. */
export function pickScheduled(pipelines: PipelineConfig[], name: string | undefined): PipelineConfig {
  const names = pipelines.map((p) => p.name);
  const picked = name === undefined ? undefined : pipelines.find((p) => p.name === name);
  if (name !== undefined && !picked)
    throw new Error(
      `--pipeline ${printable(name)}: no such pipeline (found: ${names.map((n) => printable(n)).join(', ') || 'none'})`,
    );
  let pipeline = picked;
  if (!pipeline) {
    const scheduled = pipelines.filter((p) => p.schedule);
    if (pipelines.length === 1) pipeline = pipelines[0]!;
    else if (scheduled.length === 1) pipeline = scheduled[0]!;
    else
      throw new Error(
        `${pipelines.length} pipelines found (${names.map((n) => printable(n)).join(', ')}): choose one with --pipeline <name>`,
      );
  }
  if (!pipeline.schedule)
    throw new Error(
      `pipeline ${printable(pipeline.name)} has no schedule: --once runs one tick of a scheduled pipeline (add a \`schedule:\`, or run it without --once to stream)`,
    );
  return pipeline;
}

/**
 * `--window <start>/<end>`: ISO 8601 date-times; one without an offset is in the schedule's time
 * zone (`2026-12-04T00:00/2026-12-05T00:00` is that day in Europe/Paris for a Paris schedule).
 */
export function parseWindow(text: string, timeZone: string): RunWindow {
  const parts = text.split('/');
  if (parts.length !== 2)
    throw new Error(
      `--window: expected <start>/<end> in ISO 8601, such as 2026-12-04T00:00/2026-12-05T00:00, got "${printable(text)}"`,
    );
  const [start, end] = parts.map((part, i) => {
    const t = DateTime.fromISO(part.trim(), { zone: timeZone, setZone: false });
    if (!t.isValid)
      throw new Error(
        `--window: the ${i === 0 ? 'start' : 'end'} "${printable(part)}" is not an ISO 8601 date-time (${t.invalidExplanation ?? t.invalidReason})`,
      );
    return t.toMillis();
  }) as [number, number];
  if (!(start < end)) throw new Error(`--window: the start must be before the end, got "${printable(text)}"`);
  return { start, end };
}

/** Runs one tick of the chosen pipeline; resolves with the process's exit code. */
export async function runOnce(
  pipelines: PipelineConfig[],
  options: RunOnceOptions,
  deps: CliDeps,
  now: number = Date.now(),
): Promise<number> {
  const config = pickScheduled(pipelines, options.pipeline);
  const schedule = config.schedule!;
  const window = options.window
    ? parseWindow(options.window, schedule.timeZone)
    : tickWindow(schedule, tickClock(schedule), now);
  // Logs on stderr whatever the format: stdout carries the manifest only.
  const logger = createLogger({
    level: deps.env.PASSERELLE_LOG_LEVEL ?? 'warn',
    format: resolveLogFormat(options.logFormat, deps.env),
    destination: 2,
  });
  const plan = await toPlan(config, deps.registry);
  const redisUrl = options.redis ?? deps.env.PASSERELLE_REDIS_URL;
  const retention = {
    maxAgeMs: plan.deadLetters.maxAgeMs,
    maxCount: plan.deadLetters.maxCount,
    maxMessageBytes: plan.deadLetters.maxMessageBytes,
    maxBytes: plan.deadLetters.maxBytes,
  };
  // Without Redis the dead letters live as long as the command: the manifest lists them. Its
  // warning about outboxes in memory does not apply (a run uses none), so it is not logged.
  const backend: OutboxBackend = redisUrl
    ? await createOutboxBackend({ redisUrl, retention, logger })
    : createMemoryBackend(retention, { logger: silentLogger });
  const pipeline = new ScheduledPipeline(plan, {
    backend,
    metrics: new EngineMetrics(),
    logger,
    ...(redisUrl ? { redisUrl } : {}),
    createScheduler: () => {
      throw new Error('run --once runs no scheduler');
    },
  });
  const tick: Tick = { scheduledAt: now, window, attempt: 1, timeZone: schedule.timeZone };
  const id = runId(plan.name, window.end);
  const controller = new AbortController();
  const timeout = setTimeout(
    () => controller.abort(new Error(`run timed out after ${schedule.timeout} ms (schedule.timeout)`)),
    schedule.timeout,
  );
  const onSignal = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const started = Date.now();
  try {
    await pipeline.connectOnce(controller.signal);
    const summary = await pipeline.runTick(tick, controller.signal);
    const dead = (
      await backend.deadLetters.list({ pipeline: plan.name, newestFirst: true, limit: 1000 })
    ).filter((d) => (d.message.meta.run as { id?: string } | undefined)?.id === id);
    const groups = new Map<string, { stage: string; reason: string; count: number }>();
    for (const d of dead) {
      const key = `${d.stage}\n${d.reason}`;
      const g = groups.get(key) ?? { stage: d.stage, reason: redact(d.reason), count: 0 };
      g.count++;
      groups.set(key, g);
    }
    const manifest: RunManifest = {
      pipeline: plan.name,
      run: id,
      window: { start: new Date(window.start).toISOString(), end: new Date(window.end).toISOString() },
      scheduledAt: new Date(now).toISOString(),
      read: summary.read,
      rows: summary.rows,
      outputs: summary.outputs,
      deadLettered: summary.deadLettered,
      deadLetters: [...groups.values()],
      durationMs: Date.now() - started,
    };
    deps.stdout(`${redact(JSON.stringify(manifest, null, 2))}\n`);
    return 0;
  } catch (error) {
    deps.stderr(
      `passerelle run --once: pipeline ${printable(plan.name)}, run ${id}: ${redact(errorMessage(error))}\n`,
    );
    return 1;
  } finally {
    clearTimeout(timeout);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await pipeline.stop();
    await backend.close();
  }
}
