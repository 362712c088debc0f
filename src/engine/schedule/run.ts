import {
  errorMessage,
  isRunAware,
  messageSize,
  redact,
  RetryableError,
  sleep,
  RUN_META_KEY,
  type ComponentContext,
  type Logger,
  type Message,
  type Run,
  type RunOutput,
  type RunReader,
  type RunAwareSink,
  type Sink,
} from '../../sdk/index.js';
import { ConnectionBackoff, runAttempt } from '../../outbox/policy.js';
import type { DeadLetter, DeadLetterStore, RetryPolicy } from '../../outbox/types.js';
import type { EngineMetrics } from '../metrics.js';
import type { PipelinePlan, SinkPlan } from '../plan.js';
import { runTransforms, transformContext, type ChainDeps, type TransformStep } from '../transform-chain.js';
import type { RunSummary, RunTick, Tick } from './types.js';

/*
 * The run executor (docs/scheduling.md): one tick of a scheduled pipeline, start to end. Runs do not
 * go through the outbox: the tick is the durable unit (a BullMQ job with Redis), so a run writes
 * straight to its sinks, batch by batch with each sink's batch and retry policy, and throws when it
 * can not complete; the scheduler then runs the whole tick again (same run id, same outputs).
 */

/** A sink of a scheduled pipeline, created and connected once for all its runs. */
export interface RunSink {
  plan: SinkPlan;
  sink: Sink;
}

export interface RunExecutorDeps {
  plan: PipelinePlan;
  /** The pipeline's sinks, in plan order (the scheduled pipeline creates and connects them once). */
  sinks: RunSink[];
  metrics: EngineMetrics;
  logger: Logger;
  /** Where transform rejects and FatalError batches go (the pipeline's dead-letter store). */
  deadLetters: DeadLetterStore;
  /** The context handed to the reader and the transforms the executor creates for each run. */
  componentContext(component: string, type: string): ComponentContext;
  /** Told of each batch of a run after the transforms (the status page's recent messages). */
  onOutput?(messages: Message[]): void;
}

/** `<pipeline>@<window end as ISO 8601>`: stable for a tick, so a rerun names the same outputs. */
export function runId(pipeline: string, windowEnd: number): string {
  return `${pipeline}@${new Date(windowEnd).toISOString()}`;
}

/** Raised when a run can not complete; the scheduler reruns the tick. */
export class RunFailedError extends RetryableError {}

/** The executor of one scheduled pipeline: `RunTick` for its scheduler (and `run --once`). */
export function createRunTick(deps: RunExecutorDeps): RunTick {
  return (tick, signal) => executeRun(deps, tick, signal);
}

async function executeRun(deps: RunExecutorDeps, tick: Tick, signal: AbortSignal): Promise<RunSummary> {
  const { plan } = deps;
  const run: Run = {
    id: runId(plan.name, tick.window.end),
    pipeline: plan.name,
    window: { start: tick.window.start, end: tick.window.end },
    scheduledAt: tick.scheduledAt,
    attempt: tick.attempt,
    timeZone: tick.timeZone,
  };
  const log = deps.logger.child({ pipeline: plan.name, run: run.id, attempt: run.attempt });
  const createReader = plan.source.definition.createReader;
  if (!createReader)
    throw new RunFailedError(`source ${plan.source.type} can not be read on a tick (no createReader)`);
  const chain: ChainDeps = { pipeline: plan.name, logger: log, metrics: deps.metrics };
  const summary: RunSummary = { read: 0, rows: {}, outputs: {}, deadLettered: 0 };
  const writers = deps.sinks.map((s) => new SinkWriter(s, run, deps, log, summary, signal));
  let reader: RunReader | undefined;
  // Fresh transforms per run: aggregate windows and deadband state start empty, as the run is whole.
  let steps: TransformStep[] = [];
  log.info({ window: isoWindow(run) }, 'run started');
  try {
    reader = createReader(plan.source.config, deps.componentContext('source', plan.source.type));
    steps = plan.transforms.map((t, i) => {
      const component = `transforms[${i}]`;
      return {
        transform: t.definition.create(t.config, deps.componentContext(component, t.type)),
        component,
      };
    });
    await reader.connect(signal);
    for (const w of writers) await w.begin();

    const stamp = (messages: Message[]): Message[] => messages.map((m) => stampRun(m, run));
    const pass = async (messages: Message[], from: number): Promise<void> => {
      const rejected: Omit<DeadLetter, 'id'>[] = [];
      const out = stamp(await runTransforms(chain, steps, messages, from, rejected));
      await storeDeadLetters(deps, rejected, summary);
      if (out.length === 0) return;
      deps.onOutput?.(out);
      await Promise.all(writers.map((w) => w.add(out)));
    };

    for await (const batch of reader.read(run, signal)) {
      checkAborted(signal);
      if (batch.length === 0) continue;
      summary.read += batch.length;
      deps.metrics.received.inc({ pipeline: plan.name }, batch.length);
      await pass(stamp(batch), 0);
    }
    checkAborted(signal);
    // The run's end closes every window the transforms hold (an aggregate over the whole run).
    for (let i = 0; i < steps.length; i++) {
      const { transform, component } = steps[i]!;
      if (!transform.flush) continue;
      const rejected: Omit<DeadLetter, 'id'>[] = [];
      let rejectedHere = 0;
      const produced = await transform.flush(
        Infinity,
        transformContext(chain, component, rejected, () => rejectedHere++),
      );
      const generated = produced.length + rejectedHere;
      if (generated > 0) deps.metrics.generated.inc({ pipeline: plan.name, component }, generated);
      await storeDeadLetters(deps, rejected, summary);
      if (produced.length > 0) await pass(stamp(produced), i + 1);
    }
    for (const w of writers) await w.flush();
    for (const w of writers) await w.end();
  } catch (error) {
    const message = redact(errorMessage(error));
    log.warn({ err: message }, 'run failed');
    if (error instanceof RunFailedError) throw error;
    throw new RunFailedError(`run ${run.id} failed: ${message}`, { cause: error });
  } finally {
    if (reader) await closeQuietly(log, 'source', () => reader!.close());
    for (const { transform, component } of steps)
      if (transform.close) await closeQuietly(log, component, () => transform.close!());
  }
  log.info({ read: summary.read, rows: summary.rows, deadLettered: summary.deadLettered }, 'run completed');
  return summary;
}

function stampRun(message: Message, run: Run): Message {
  return {
    ...message,
    meta: { ...message.meta, [RUN_META_KEY]: { id: run.id, window: { ...run.window } } },
  };
}

function isoWindow(run: Run): { start: string; end: string } {
  return { start: new Date(run.window.start).toISOString(), end: new Date(run.window.end).toISOString() };
}

function checkAborted(signal: AbortSignal): void {
  if (signal.aborted)
    throw new RunFailedError(`run aborted: ${errorMessage(signal.reason ?? 'stopped or timed out')}`);
}

async function storeDeadLetters(
  deps: RunExecutorDeps,
  entries: Omit<DeadLetter, 'id'>[],
  summary: RunSummary,
): Promise<void> {
  if (entries.length === 0) return;
  // A dead letter that can not be stored fails the run: the rerun will reject it again.
  await deps.deadLetters.add(entries);
  summary.deadLettered += entries.length;
  const byStage = new Map<string, number>();
  for (const e of entries) byStage.set(e.stage, (byStage.get(e.stage) ?? 0) + 1);
  for (const [stage, count] of byStage) {
    deps.metrics.deadLettered.inc({ pipeline: deps.plan.name, stage }, count);
    deps.logger.warn(
      {
        pipeline: deps.plan.name,
        component: stage,
        count,
        reason: redact(entries.find((e) => e.stage === stage)!.reason),
      },
      'messages dead-lettered',
    );
  }
}

async function closeQuietly(log: Logger, component: string, close: () => Promise<void>): Promise<void> {
  try {
    await close();
  } catch (error) {
    log.warn({ component, err: redact(errorMessage(error)) }, 'close failed');
  }
}

/**
 * Writes a run's messages to one sink: batches of at most `batch.count` messages and about
 * `batch.bytes` bytes, one after the other, each retried by the sink's retry policy. The outcome of
 * each attempt is the outbox's (`runAttempt`): FatalError dead-letters the batch, BatchError settles
 * the good part, the rest is retried. Unlike the outbox, out of attempts means the run fails (the
 * scheduler reruns the tick) rather than a dead letter, and a sink that is not connected uses
 * attempts too: the run must end, and the rerun is the durable retry.
 */
class SinkWriter {
  private pending: Message[] = [];
  private pendingBytes = 0;
  private readonly aware: (Sink & RunAwareSink) | undefined;
  private readonly policy: RetryPolicy;
  private readonly labels: { pipeline: string; sink: string };

  constructor(
    private readonly target: RunSink,
    private readonly run: Run,
    private readonly deps: RunExecutorDeps,
    private readonly log: Logger,
    private readonly summary: RunSummary,
    private readonly signal: AbortSignal,
  ) {
    this.aware = isRunAware(target.sink) ? target.sink : undefined;
    // Attempts are counted here: runAttempt must never turn an exhausted batch into dead letters.
    this.policy = { ...target.plan.retry, attempts: Number.POSITIVE_INFINITY };
    this.labels = { pipeline: run.pipeline, sink: target.plan.name };
    summary.rows[target.plan.name] = 0;
  }

  async begin(): Promise<void> {
    await this.aware?.beginRun(this.run, this.signal);
  }

  async add(messages: Message[]): Promise<void> {
    const { count, bytes } = this.target.plan.batch;
    for (const m of messages) {
      this.pending.push(m);
      this.pendingBytes += sizeOf(m);
      if (this.pending.length >= count || this.pendingBytes >= bytes) await this.flush();
    }
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    await this.write(batch);
  }

  async end(): Promise<void> {
    if (!this.aware) return;
    const output: RunOutput = await this.aware.endRun(this.run, this.signal);
    this.summary.outputs[this.target.plan.name] = output;
  }

  private async write(batch: Message[]): Promise<void> {
    const name = this.target.plan.name;
    const limit = this.target.plan.retry.attempts;
    const conn = new ConnectionBackoff(this.policy);
    const handler = (messages: Message[], ctx: { signal: AbortSignal }): Promise<void> =>
      this.target.sink.write(messages, ctx.signal);
    let messages = batch;
    let attempt = 1;
    for (let failures = 0; ;) {
      checkAborted(this.signal);
      const outcome = await runAttempt(handler, messages, attempt, this.policy, conn, this.signal);
      if (outcome.delivered > 0) {
        this.summary.rows[name] = (this.summary.rows[name] ?? 0) + outcome.delivered;
        this.deps.metrics.delivered.inc(this.labels, outcome.delivered);
      }
      for (const dead of outcome.dead)
        await storeDeadLetters(
          this.deps,
          dead.messages.map((message) => ({
            pipeline: this.run.pipeline,
            stage: name,
            sink: name,
            reason: dead.reason,
            message,
            time: Date.now(),
            attempts: dead.attempts,
          })),
          this.summary,
        );
      const retry = outcome.retry;
      if (!retry) return;
      failures++;
      const reason = redact(errorMessage(retry.error));
      if (outcome.stopped || failures >= limit)
        throw new RunFailedError(
          `sink ${name}: ${retry.messages.length} message(s) not written after ${failures} attempt(s): ${reason}`,
          { cause: retry.error },
        );
      this.deps.metrics.retries.inc(this.labels);
      this.log.warn(
        { component: name, attempt: failures, delayMs: retry.delayMs, err: reason },
        'sink write failed, retrying',
      );
      await sleep(retry.delayMs, this.signal);
      messages = retry.messages;
      attempt = retry.attempt;
    }
  }
}

/** messageSize throws on values JSON can not carry; the sink decides what to do with those. */
function sizeOf(m: Message): number {
  try {
    return messageSize(m);
  } catch {
    return 64;
  }
}
