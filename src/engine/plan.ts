import type { SinkDefinition, SourceDefinition, TransformDefinition } from '../sdk/index.js';
import type { BatchPolicy, DeadLetterRetention, RetryPolicy } from '../outbox/types.js';

/** A validated pipeline with its components resolved: what the engine runs. */
export interface PipelinePlan {
  name: string;
  source: { type: string; definition: SourceDefinition; config: unknown };
  transforms: { type: string; definition: TransformDefinition; config: unknown }[];
  sinks: SinkPlan[];
  /** Messages read from the source and not yet settled, at most. */
  maxUnsettled: number;
  shutdownTimeoutMs: number;
  deadLetters: DeadLetterRetention;
}

export interface SinkPlan {
  /** Unique within the pipeline; names the sink's queue and its metrics. */
  name: string;
  type: string;
  definition: SinkDefinition;
  config: unknown;
  batch: BatchPolicy;
  retry: RetryPolicy;
  maxQueued: number;
  concurrency: number;
}
