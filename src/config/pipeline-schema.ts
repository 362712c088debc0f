import { z } from 'zod';
import { duration, isTimeZone, type DeliveryGuarantee } from '../sdk/index.js';

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
    // Not shorter by default: bigger batches cost the outbox and the sinks less per message. (The
    // MQTT sink no longer pays ~40 ms per batch on a broker with Nagle on: it sends a PINGREQ.)
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

/**
 * `schedule`: the pipeline runs once per tick instead of streaming (docs/scheduling.md). The
 * source is read on each tick (`readModes` includes `tick`), over the tick's window.
 */
export const scheduleOptions = z
  .strictObject({
    cron: z
      .string()
      .optional()
      .describe(
        'A cron expression (5 fields, or 6 with seconds first): `0 6 * * *` is every day at 06:00 in `timeZone`. Give `cron` or `every`.',
      ),
    every: duration(
      'An interval: `15m` runs at :00, :15, :30 and :45 (aligned to the epoch, in UTC). Give `cron` or `every`.',
    ).optional(),
    timeZone: z
      .string()
      .default('UTC')
      .refine((v) => isTimeZone(v), 'an IANA time zone such as Europe/Paris or UTC')
      .describe(
        'Time zone of `cron` and of calendar windows (`previous: day` is midnight to midnight there, 23 or 25 hours on DST days).',
      ),
    window: z
      .union([
        z.literal('since-last-tick'),
        z.strictObject({ last: duration('The window is the last <duration> before the tick.') }),
        z.strictObject({
          previous: z
            .enum(['hour', 'day', 'week', 'month'])
            .describe(
              'The window is the last complete hour, day, week (ISO, from Monday) or month before the tick, in `timeZone`.',
            ),
        }),
      ])
      .default('since-last-tick')
      .describe(
        'The period a run covers, given to the source (`{{ window.start }}`, `{{ window.end }}`): `since-last-tick` (default: from the previous tick to this one), `{ last: 15m }`, or `{ previous: day }` (yesterday, in `timeZone`).',
      ),
    missed: z
      .enum(['run-once', 'skip'])
      .default('run-once')
      .describe(
        'A tick that came while no replica was running: `run-once` runs the latest missed tick once at the next start (earlier missed ticks are counted, not run), `skip` counts it and waits for the next tick.',
      ),
    retry: z
      .strictObject({
        attempts: z.number().int().positive().default(3).describe('Attempts of a run before it is failed.'),
        initialDelay: duration('Delay before the first rerun; doubles each attempt.').prefault('30s'),
        maxDelay: duration('Longest delay between two attempts.').prefault('10m'),
      })
      .prefault({})
      .describe('Reruns of a failed run (the whole run: reader, transforms, every sink).'),
    timeout: duration('How long one run may take before it is failed (and retried).').prefault('1h'),
  })
  .superRefine((options, ctx) => {
    if ((options.cron === undefined) === (options.every === undefined))
      ctx.addIssue({ code: 'custom', path: [], message: 'give either `cron` or `every`' });
  })
  .describe('Run the pipeline on a schedule (reports, polls) instead of streaming.');

export type ScheduleOptions = z.output<typeof scheduleOptions>;

/** The top level of a pipeline document without its components (`source`, `transforms`, `sinks`). */
export const pipelineOptions = z.strictObject({
  name: nameField(
    'Name of the pipeline, unique across all loaded files; it appears in logs, metrics and queue names.',
  ),
  description: z.string().optional().describe('What the pipeline is for.'),
  maxUnsettled: z
    .number()
    .int()
    .positive()
    .default(10_000)
    .describe(
      'Messages read from the source and not yet settled (stored in every outbox, filtered or dead-lettered), at most; past it reading pauses.',
    ),
  deadLetters: deadLetterOptions.prefault({}),
  shutdownTimeout: duration('How long a stop waits for messages in flight to settle.').prefault('10s'),
  schedule: scheduleOptions.optional(),
});

/** Former names of top-level keys (see `renamed` on component specs). */
export const PIPELINE_RENAMED: Readonly<Record<string, string>> = { maxInFlight: 'maxUnsettled' };

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
  maxUnsettled: number;
  /** `maxAge` in milliseconds. */
  deadLetters: DeadLetterOptions;
  /** Milliseconds. */
  shutdownTimeout: number;
  /** Present for a scheduled pipeline: it runs once per tick instead of streaming. Durations in ms. */
  schedule?: ScheduleOptions;
  /** Where the pipeline was defined, for messages. */
  origin?: { file: string; line: number };
}

export type { DeliveryGuarantee };
