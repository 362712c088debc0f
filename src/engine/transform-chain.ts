import {
  errorMessage,
  type Logger,
  type Message,
  type Transform,
  type TransformContext,
} from '../sdk/index.js';
import type { DeadLetter } from '../outbox/types.js';
import type { EngineMetrics } from './metrics.js';

/** The transforms of a pipeline, in order, as the streaming engine and the run executor apply them. */
export interface TransformStep {
  transform: Transform;
  /** `transforms[i]`: the stage its dead letters and metrics are named by. */
  component: string;
}

export interface ChainDeps {
  pipeline: string;
  logger: Logger;
  metrics: EngineMetrics;
}

export function deadLetterOf(
  pipeline: string,
  message: Message,
  stage: string,
  reason: string,
): Omit<DeadLetter, 'id'> {
  return { pipeline, stage, reason, message, time: Date.now(), attempts: 1 };
}

/** What a transform sees; `reject` collects dead letters into `rejected`. */
export function transformContext(
  deps: ChainDeps,
  component: string,
  rejected: Omit<DeadLetter, 'id'>[],
  onReject?: () => void,
): TransformContext {
  return {
    pipeline: deps.pipeline,
    component,
    logger: deps.logger,
    reject: (message, reason) => {
      onReject?.();
      rejected.push(deadLetterOf(deps.pipeline, message, component, reason));
    },
  };
}

/**
 * Runs `input` through the transforms from index `from` on. Rejected messages land in `rejected`; a
 * transform that throws dead-letters its whole batch (a pipeline never dies of one bad message);
 * what a transform removes on purpose is counted as filtered.
 */
export async function runTransforms(
  deps: ChainDeps,
  steps: readonly TransformStep[],
  input: Message[],
  from: number,
  rejected: Omit<DeadLetter, 'id'>[],
): Promise<Message[]> {
  let batch = input;
  for (let i = from; i < steps.length && batch.length > 0; i++) {
    const { transform, component } = steps[i]!;
    let rejectedHere = 0;
    const ctx = transformContext(deps, component, rejected, () => rejectedHere++);
    const before = batch.length;
    const rejectedBefore = rejected.length;
    try {
      batch = await transform.apply(batch, ctx);
    } catch (error) {
      // Drop what it ctx.reject()ed before throwing: those messages are in the batch dead-lettered
      // below, and would otherwise be stored and counted twice (counters would not reconcile).
      rejected.length = rejectedBefore;
      const reason = `transform failed: ${errorMessage(error)}`;
      for (const message of batch) rejected.push(deadLetterOf(deps.pipeline, message, component, reason));
      rejectedHere = before;
      batch = [];
    }
    const filtered = before - batch.length - rejectedHere;
    if (filtered > 0) deps.metrics.filtered.inc({ pipeline: deps.pipeline, component }, filtered);
  }
  return batch;
}
