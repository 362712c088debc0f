import { z } from 'zod';
import { duration, type DeliveryGuarantee } from '../sdk/index.js';

/**
 * The engine-level part of a pipeline file: everything that is not a component's own config.
 * Component configs come from the registry; `load.ts` validates both and assembles `PipelineConfig`.
 * Durations use `prefault` (an input value) so the JSON Schema shows `50ms`, not `50`.
 */

export const NAME_PATTERN = /^[a-z0-9][a-z0-9-_]*$/i;

const nameField = (what: string) =>
  z
    .string()
    .regex(NAME_PATTERN, 'use letters, digits, "-" and "_", starting with a letter or digit')
    .describe(what);

export const batchOptions = z
  .strictObject({
    count: z
      .number()
      .int()
      .positive()
      .default(500)
      .describe('Messages per batch written to the sink, at most.'),
    bytes: z
      .number()
      .int()
      .positive()
      .default(1024 * 1024)
      .describe('Approximate payload bytes per batch, at most.'),
    // Not shorter by default: a broker without TCP_NODELAY (Mosquitto's default) holds each batch's
    // PUBACKs ~40 ms (Nagle meets delayed ACKs), so a sink drains at most (rate x maxWait / 40 ms);
    // below 40 ms it falls behind. With `set_tcp_nodelay true` on the broker, 5 ms gives low latency.
    maxWait: duration(
      'How long the first message of a batch waits for more before the batch is queued.',
    ).prefault('50ms'),
  })
  .describe('How messages are grouped into batches (one queued job per batch).');

export const retryOptions = z
  .strictObject({
    attempts: z
      .number()
      .int()
      .positive()
      .default(10)
      .describe('Attempts for transient errors before the batch goes to the dead letters.'),
    initialDelay: duration('Delay before the first retry; doubles each attempt, with jitter.').prefault(
      '200ms',
    ),
    maxDelay: duration('Longest delay between two attempts.').prefault('30s'),
  })
  .describe('Retries of batches that failed with a transient error.');

/** Keys every sink accepts next to its own config. Connectors must not use these names. */
export const sinkEngineOptions = z.strictObject({
  name: nameField(
    'Name of the sink, unique within the pipeline; it names the queue. Default: the type, or `<type>-<index>` when two sinks share a type.',
  ).optional(),
  batch: batchOptions.prefault({}),
  retry: retryOptions.prefault({}),
  maxQueued: z
    .number()
    .int()
    .positive()
    .default(100_000)
    .describe('Messages queued for this sink and not yet written, at most; past it the source is held back.'),
  concurrency: z
    .number()
    .int()
    .positive()
    .default(1)
    .describe('Batches written to this sink at once, per replica.'),
});

export const SINK_ENGINE_KEYS: readonly string[] = Object.keys(sinkEngineOptions.shape);

export const deadLetterOptions = z
  .strictObject({
    maxAge: duration('Dead letters older than this are removed.').prefault('7d'),
    maxCount: z
      .number()
      .int()
      .positive()
      .default(100_000)
      .describe(
        'Dead letters kept per pipeline, at most; past it the oldest are removed (counted in passerelle_dead_letters_evicted_total and logged).',
      ),
    maxMessageBytes: z
      .number()
      .int()
      .min(1024)
      .default(64 * 1024)
      .describe(
        'Payload bytes kept whole per dead letter. A larger payload keeps its first maxMessageBytes bytes with its size and SHA-256, and cannot be replayed (it is not the original message).',
      ),
    maxBytes: z
      .number()
      .int()
      .positive()
      .default(64 * 1024 * 1024)
      .describe(
        'Bytes of dead letters kept per pipeline, at most (their stored JSON); past it the oldest are removed (counted in passerelle_dead_letters_evicted_total{cause="maxBytes"} and logged).',
      ),
  })
  .superRefine((options, ctx) => {
    if (options.maxBytes < options.maxMessageBytes * 2)
      ctx.addIssue({
        code: 'custom',
        path: ['maxBytes'],
        message: `must be at least twice maxMessageBytes (${options.maxMessageBytes}), or a single large dead letter would evict all others`,
      });
  })
  .describe('How long dead letters are kept.');

/** The top level of a pipeline document without its components (`source`, `transforms`, `sinks`). */
export const pipelineOptions = z.strictObject({
  name: nameField(
    'Name of the pipeline, unique across all loaded files; it appears in logs, metrics and queue names.',
  ),
  description: z.string().optional().describe('What the pipeline is for.'),
  maxInFlight: z
    .number()
    .int()
    .positive()
    .default(10_000)
    .describe('Messages read from the source and not yet settled, at most; past it reading pauses.'),
  deadLetters: deadLetterOptions.prefault({}),
  shutdownTimeout: duration('How long a stop waits for messages in flight to settle.').prefault('10s'),
});

export const PIPELINE_KEYS: readonly string[] = [
  ...Object.keys(pipelineOptions.shape),
  'source',
  'transforms',
  'sinks',
];

export type BatchOptions = z.output<typeof batchOptions>;
export type RetryOptions = z.output<typeof retryOptions>;
export type DeadLetterOptions = z.output<typeof deadLetterOptions>;

export interface ComponentConfig {
  type: string;
  /** The component's config, parsed by its schema (defaults applied, durations in milliseconds). */
  config: unknown;
}

export interface SinkConfig extends ComponentConfig {
  /** Unique within the pipeline. */
  name: string;
  /** `maxWait` in milliseconds. */
  batch: BatchOptions;
  /** `initialDelay` and `maxDelay` in milliseconds. */
  retry: RetryOptions;
  maxQueued: number;
  concurrency: number;
}

/** A validated pipeline, as the engine consumes it. Durations are milliseconds. */
export interface PipelineConfig {
  name: string;
  description?: string;
  source: ComponentConfig;
  transforms: ComponentConfig[];
  sinks: SinkConfig[];
  maxInFlight: number;
  /** `maxAge` in milliseconds. */
  deadLetters: DeadLetterOptions;
  /** Milliseconds. */
  shutdownTimeout: number;
  /** Where the pipeline was defined, for messages. */
  origin?: { file: string; line: number };
}

export type { DeliveryGuarantee };
