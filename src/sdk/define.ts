import type { z } from 'zod';
import type { Delivery } from './delivery.js';
import type { Logger } from './logger.js';
import type { MemoryBudget } from './memory-budget.js';
import type { Message } from './message.js';
import type { RunReader } from './run.js';

export type DeliveryGuarantee = 'at-least-once' | 'best-effort';

/** A counter or gauge a component declares; `pipeline` and `component` labels are added by the engine. */
export interface ComponentCounter {
  inc(labels?: Record<string, string>, value?: number): void;
}
export interface ComponentGauge {
  set(labels: Record<string, string> | undefined, value: number): void;
  inc(labels?: Record<string, string>, value?: number): void;
  /** Removes one label set (e.g. a device that is no longer tracked), so cardinality stays bounded. */
  remove(labels: Record<string, string>): void;
}

/**
 * Component metrics, exported on /metrics next to the engine's. Names start with `passerelle_`;
 * declaring the same name twice (two pipelines, two components) returns the same metric.
 */
export interface ComponentMetrics {
  counter(name: string, help: string, labelNames?: string[]): ComponentCounter;
  gauge(name: string, help: string, labelNames?: string[]): ComponentGauge;
}

/**
 * `standby`: healthy and ready, but another replica holds the work (a lease for a single reader or
 * writer); it takes over when that replica goes away.
 */
export type ConnectionState =
  'connecting' | 'connected' | 'standby' | 'reconnecting' | 'disconnected' | 'stopped';

/** What the engine gives a component: identity, logging, and a way to report its connection state. */
export interface ComponentContext {
  pipeline: string;
  /** Where the component sits: `source`, `transforms[1]`, `sinks[0]`. */
  component: string;
  logger: Logger;
  /** Reports the connection state; readiness is false while any source or sink is not `connected`. */
  setState(state: ConnectionState, error?: Error): void;
  /** Counts a message this component dropped on purpose (overflow policy, QoS 0 while offline). */
  countDropped(count: number, reason: string): void;
  /** Dead-letters a message that can not be processed (undecodable payload) without failing the rest. */
  deadLetter(message: Message, reason: string): Promise<void>;
  /** Component metrics (per-device last seen, per-node reconnects...). */
  metrics: ComponentMetrics;
  /**
   * The Redis URL the service runs with (its outbox), for state shared by replicas: leases, rate
   * limits, report-by-exception state. Undefined when the service runs without Redis.
   */
  redisUrl?: string;
  /**
   * Who this component is across restarts, `<instance>/<pipeline>/<component>` (the instance is
   * PASSERELLE_IDENTITY or the host name, which is the pod name on Kubernetes). Use it as the owner of
   * a lease: a restarted process with the same identity then takes its lease back at once instead of
   * waiting for the expiry. Undefined outside the service (tools, tests).
   */
  leaseOwner?: string;
  /**
   * The process's memory budget: sources that take pushed messages give it to their `Inbox`, so
   * they stop taking messages while it is spent. Undefined outside the service (tools, tests).
   */
  memoryBudget?: MemoryBudget;
}

export interface Source {
  connect(signal: AbortSignal): Promise<void>;
  /** Resolves with the next delivery, or null when the source has ended or the signal aborted. */
  read(signal: AbortSignal): Promise<Delivery | null>;
  /**
   * Messages read and not yet acknowledged, at most (e.g. MQTT's Receive Maximum): with that many
   * unacknowledged, `read()` gives nothing more until some are. The engine then stores the sinks'
   * open batches at once, since waiting for their count or maxWait would only stall the flow.
   */
  readonly window?: number;
  /**
   * For sources whose peer stops at a limit the source is not told (an MQTT 3.1.1 broker's own
   * in-flight limit): `listener` runs when the source holds unacknowledged messages and nothing more
   * comes. The engine then stores the sinks' open batches, as for a full `window`. Returns the unsubscribe.
   */
  onStalled?(listener: () => void): () => void;
  close(): Promise<void>;
}

export interface Sink {
  connect(signal: AbortSignal): Promise<void>;
  /**
   * Writes a batch. Resolves once every message is accepted by the target (e.g. PUBACK received).
   * Throws NotConnectedError / RetryableError to retry, FatalError to dead-letter the batch,
   * BatchError to settle part of it, SinkStoppedError when the sink can not work at all.
   */
  write(batch: Message[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface TransformContext {
  pipeline: string;
  component: string;
  logger: Logger;
  /** Dead-letters a message with a readable reason; it is not passed on. */
  reject(message: Message, reason: string): void;
}

export interface Transform {
  /** Returns the messages to pass on: a subset, modified copies or new messages derived from the batch. */
  apply(batch: Message[], ctx: TransformContext): Message[] | Promise<Message[]>;
  /**
   * Messages the transform emits without new input (e.g. windows whose time is over). The engine
   * calls it every `flushEvery` ms, and once with `now = Infinity` when the pipeline stops; the output
   * goes through the following transforms into the sinks (no source to acknowledge) and is counted
   * as generated. Never called while apply() runs.
   */
  flush?(now: number, ctx: TransformContext): Message[] | Promise<Message[]>;
  /** How often the engine calls flush(), in milliseconds (default 1000). */
  flushEvery?: number;
  close?(): Promise<void>;
}

/** A valid setting that is probably a mistake or a risk; `path` is inside the component's config. */
export interface ConfigWarning {
  path: (string | number)[];
  message: string;
}

interface Common<Schema extends z.ZodType> {
  type: string;
  title: string;
  summary: string;
  /** The config schema (a zod strict object, without the `type` key). */
  config: Schema;
  examples?: Record<string, unknown>[];
  /** Warnings about a valid config: printed by `validate` and logged when the service starts. */
  warnings?(config: z.output<Schema>): ConfigWarning[];
  /**
   * Former names of keys, to their current name (`{ maxInFlight: 'receiveMaximum' }`): a config
   * with the old name still loads as if it had the new one, and `validate` warns, naming it.
   */
  renamed?: Readonly<Record<string, string>>;
}

/** `stream`: read continuously (`create`); `tick`: read once per run of a scheduled pipeline (`createReader`). */
export type SourceReadMode = 'stream' | 'tick';

export interface SourceDefinition<Schema extends z.ZodType = z.ZodType> extends Common<Schema> {
  kind: 'source';
  /**
   * How pipelines may read this source (default `['stream']`): the spec says it so that `validate`
   * can refuse a `schedule` on a stream-only source without loading its implementation. It must
   * match the implementation: `stream` with `create`, `tick` with `createReader`.
   */
  readModes?: readonly SourceReadMode[];
  delivery(config: z.output<Schema>): DeliveryGuarantee;
  /**
   * True when only one replica may read this source at a time (an OPC UA session, an MQTT
   * subscription without a shared group, a poll). With Redis, the engine runs it under a lease.
   */
  singleReader?(config: z.output<Schema>): boolean;
  /**
   * The streaming source a pipeline without `schedule` reads continuously. Absent for a source that
   * is only read on a tick (an InfluxDB query): a pipeline with it needs a `schedule`.
   */
  create?(config: z.output<Schema>, ctx: ComponentContext): Source;
  /**
   * What a scheduled pipeline reads on each tick (docs/scheduling.md). Absent when the source can
   * not be read on a tick (an MQTT subscription): a pipeline with it can not have a `schedule`.
   */
  createReader?(config: z.output<Schema>, ctx: ComponentContext): RunReader;
}

export interface SinkDefinition<Schema extends z.ZodType = z.ZodType> extends Common<Schema> {
  kind: 'sink';
  delivery(config: z.output<Schema>): DeliveryGuarantee;
  /** True when redelivered batches do not create duplicates at the target. */
  idempotent?(config: z.output<Schema>): boolean;
  /**
   * Where this config lets the target keep less than every message as sent (InfluxDB merging points
   * with the same series and time): one sentence each, printed by `passerelle validate`.
   */
  caveats?(config: z.output<Schema>): string[];
  /**
   * The sink's own defaults for the engine's `batch` options, where the generic ones (500 messages
   * or 50 ms) do not suit it: a quota-bound API wants few large writes. The pipeline can override.
   */
  batchDefaults?: { count?: number; bytes?: number; maxWait?: string };
  /**
   * Set when this config only works in a scheduled pipeline (Excel `rotate: run`): the config key
   * at fault and why. `validate` refuses such a sink in a pipeline without `schedule`.
   */
  runOnly?(config: z.output<Schema>): { key: string; reason: string } | undefined;
  create(config: z.output<Schema>, ctx: ComponentContext): Sink;
}

export interface TransformDefinition<Schema extends z.ZodType = z.ZodType> extends Common<Schema> {
  kind: 'transform';
  create(config: z.output<Schema>, ctx: Omit<ComponentContext, 'setState'>): Transform;
}

export type ComponentDefinition = SourceDefinition | SinkDefinition | TransformDefinition;

/*
 * Specs and lazy loading. A component is two things: its spec (type, title, summary, config schema,
 * examples, delivery...) and its implementation (the code behind `create`, with its client library).
 * The registry holds specs only, so `validate`, `connectors`, the JSON schema and the docs never load
 * an implementation; the engine calls `load()` for the components a pipeline uses, just before it
 * creates them. Client libraries cost megabytes each (node-opcua ~90 MB, exceljs ~30 MB): a process
 * pays only for what its pipelines use. The pattern, per component folder:
 *
 *   spec.ts   the zod config and the spec; imports only zod, src/sdk and small pure helpers. The
 *             schemas are built on first use (lazySchema), so a process builds only the schemas of
 *             the components its pipelines name:
 *
 *     export const mqttSourceConfig = lazySchema(() => z.strictObject({ ... }));
 *     export const mqttSourceSpec: SourceSpec<typeof mqttSourceConfig> = {
 *       kind: 'source', type: 'mqtt', title: '...', summary: '...',
 *       get config() { return builtSchema(mqttSourceConfig); },
 *       delivery: (config) => ..., // everything but create
 *       load: async () => (await import('./index.js')).mqttSource,
 *     };
 *
 *   index.ts  the full definition: the spec plus `create`, importing the implementation statically
 *             (tests and tools that use one component import this file):
 *
 *     export const mqttSource = defineSource({ ...mqttSourceSpec, create: (config, ctx) => new MqttSource(config, ctx) });
 *
 *   src/registry/builtin-specs.ts lists `mqttSourceSpec`, imported from spec.ts, never from index.ts.
 *
 * The type annotation on the spec is needed: `load` refers to index.ts, which refers back to the spec.
 */

/** The registry's view of a source: everything but `create`; `load()` gives the full definition. */
export type SourceSpec<Schema extends z.ZodType = z.ZodType> = Omit<
  SourceDefinition<Schema>,
  'create' | 'createReader'
> & {
  load(): Promise<SourceDefinition<Schema>>;
};
/** The registry's view of a sink: everything but `create`; `load()` gives the full definition. */
export type SinkSpec<Schema extends z.ZodType = z.ZodType> = Omit<SinkDefinition<Schema>, 'create'> & {
  load(): Promise<SinkDefinition<Schema>>;
};
/** The registry's view of a transform: everything but `create`; `load()` gives the full definition. */
export type TransformSpec<Schema extends z.ZodType = z.ZodType> = Omit<
  TransformDefinition<Schema>,
  'create'
> & {
  load(): Promise<TransformDefinition<Schema>>;
};
export type ComponentSpec = SourceSpec | SinkSpec | TransformSpec;

/** A spec or a full definition: what a registry may list (tests list full definitions). */
export type SourceEntry = SourceSpec | SourceDefinition;
export type SinkEntry = SinkSpec | SinkDefinition;
export type TransformEntry = TransformSpec | TransformDefinition;
export type ComponentEntry = SourceEntry | SinkEntry | TransformEntry;

type Loaded<E> = E extends SourceEntry
  ? SourceDefinition
  : E extends SinkEntry
    ? SinkDefinition
    : TransformDefinition;

/**
 * The full definition of a registry entry: loads its implementation (once; the module system
 * caches it) unless the entry is already a full definition.
 */
export async function loadComponent<E extends ComponentEntry>(entry: E): Promise<Loaded<E>> {
  if (!('load' in entry)) return entry as unknown as Loaded<E>;
  const loaded = await (entry as ComponentSpec).load();
  const creates =
    typeof (loaded as Partial<SourceDefinition>).create === 'function' ||
    typeof (loaded as Partial<SourceDefinition>).createReader === 'function';
  if (loaded.kind !== entry.kind || loaded.type !== entry.type || !creates)
    throw new Error(
      `${entry.kind} ${entry.type}: load() gave ${loaded.kind} ${loaded.type}, not its implementation`,
    );
  if (loaded.kind === 'source') {
    const modes = sourceReadModes(loaded);
    if (modes.includes('stream') !== (typeof loaded.create === 'function'))
      throw new Error(
        `source ${loaded.type}: readModes ${modes.includes('stream') ? 'has' : 'lacks'} "stream" but create() is ${loaded.create ? 'defined' : 'missing'}`,
      );
    if (modes.includes('tick') !== (typeof loaded.createReader === 'function'))
      throw new Error(
        `source ${loaded.type}: readModes ${modes.includes('tick') ? 'has' : 'lacks'} "tick" but createReader() is ${loaded.createReader ? 'defined' : 'missing'}`,
      );
  }
  return loaded as Loaded<E>;
}

/** How a source (spec or definition) may be read: `readModes`, `['stream']` when it says nothing. */
export function sourceReadModes(source: Pick<SourceDefinition, 'readModes'>): readonly SourceReadMode[] {
  return source.readModes ?? ['stream'];
}

/**
 * A full definition (spec and `create`), in a component's index.ts: `defineSource({ ...spec, create })`.
 * The registry lists the spec (see SourceSpec above), not this.
 */
/** A source a pipeline can stream from (it has `create`); most sources are. */
export type StreamSourceDefinition<Schema extends z.ZodType = z.ZodType> = SourceDefinition<Schema> &
  Required<Pick<SourceDefinition<Schema>, 'create'>>;

export function defineSource<S extends z.ZodType>(
  def: Omit<StreamSourceDefinition<S>, 'kind'>,
): StreamSourceDefinition<S>;
export function defineSource<S extends z.ZodType>(
  def: Omit<SourceDefinition<S>, 'kind'>,
): SourceDefinition<S>;
export function defineSource<S extends z.ZodType>(
  def: Omit<SourceDefinition<S>, 'kind'>,
): SourceDefinition<S> {
  return { kind: 'source', ...def };
}

export function defineSink<S extends z.ZodType>(def: Omit<SinkDefinition<S>, 'kind'>): SinkDefinition<S> {
  return { kind: 'sink', ...def };
}

export function defineTransform<S extends z.ZodType>(
  def: Omit<TransformDefinition<S>, 'kind'>,
): TransformDefinition<S> {
  return { kind: 'transform', ...def };
}

/** Metrics that record nothing: for unit tests and tools that run components outside a service. */
export const noopMetrics: ComponentMetrics = {
  counter: () => ({ inc: () => {} }),
  gauge: () => ({ set: () => {}, inc: () => {}, remove: () => {} }),
};
