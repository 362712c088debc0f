import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import type { Counter } from 'prom-client';
import { z } from 'zod';
import {
  BatchError,
  FatalError,
  RetryableError,
  RUN_META_KEY,
  defineSink,
  silentLogger,
  type ComponentContext,
  type Message,
  type Run,
  type SinkDefinition,
} from '../../src/sdk/index.js';
import { createMemoryBackend } from '../../src/outbox/index.js';
import type { OutboxBackend } from '../../src/outbox/types.js';
import { logSinkSpec } from '../../connectors/log/spec.js';
import { mqttSinkSpec } from '../../connectors/mqtt/spec.js';
import { excelSinkSpec } from '../../connectors/excel/spec.js';
import { readWithOpenpyxl, xlsxFiles } from '../../connectors/excel/test-support.js';
import { aggregateTransformSpec } from '../../src/transforms/aggregate/spec.js';
import { startMosquitto, type ServiceHandle } from '../harness/services.js';
import { EngineMetrics } from '../../src/engine/metrics.js';
import { componentMetrics } from '../../src/engine/component-metrics.js';
import type { PipelinePlan, SinkPlan } from '../../src/engine/plan.js';
import { RunFailedError, createRunTick, runId, type RunSink } from '../../src/engine/schedule/run.js';
import {
  rejectOddTransform,
  tickSource,
  type TickSourceProbe,
} from '../../src/engine/schedule/tick-source.fixture.js';
import type { Tick } from '../../src/engine/schedule/types.js';

/*
 * The run executor against real sinks where they are cheap (the log sink into a file, MQTT into a
 * test Mosquitto) and small recording sinks where the test needs to see each write or fail it.
 */

const noConfig = z.strictObject({});
const DAY = 86_400_000;
const WINDOW = { start: Date.UTC(2026, 11, 4), end: Date.UTC(2026, 11, 5) };
const tick = (attempt = 1, window = WINDOW): Tick => ({
  scheduledAt: window.end,
  window,
  attempt,
  timeZone: 'UTC',
});

async function total(counter: Pick<Counter<string>, 'get'>, where: Record<string, string> = {}) {
  const { values } = await counter.get();
  return values
    .filter((v) => Object.entries(where).every(([k, want]) => v.labels[k] === want))
    .reduce((n, v) => n + v.value, 0);
}

/** A sink that records its batches and can fail them; `runs` mimics a file per run (Excel rotate: run). */
interface Recorder {
  definition: SinkDefinition<typeof noConfig>;
  batches: Message[][];
  writes: number;
  fail?: (batch: Message[], write: number) => Error | undefined;
  /** Committed output per run id (replaced by a rerun), and the order of begin/write/end calls. */
  runs: Map<string, Message[]>;
  calls: string[];
}

function recorder(runAware: boolean): Recorder {
  const r: Recorder = {
    batches: [],
    writes: 0,
    runs: new Map(),
    calls: [],
    definition: undefined as never,
  };
  let staging: Message[] | undefined;
  r.definition = defineSink({
    type: 'recorder',
    title: 'recorder',
    summary: 'records batches',
    config: noConfig,
    delivery: () => 'at-least-once',
    create: () => ({
      async connect() {},
      async write(batch) {
        const n = ++r.writes;
        r.calls.push(`write ${batch.length}`);
        const error = r.fail?.(batch, n);
        if (error) throw error;
        r.batches.push(batch);
        staging?.push(...batch);
      },
      async close() {},
      ...(runAware
        ? {
            async beginRun(run: Run) {
              r.calls.push(`begin ${run.id}`);
              staging = [];
            },
            async endRun(run: Run) {
              r.calls.push(`end ${run.id}`);
              // Replaces an earlier attempt's output: the same run id names the same file.
              r.runs.set(run.id, staging ?? []);
              staging = undefined;
              return { targets: [`report-${run.id}`], rows: r.runs.get(run.id)!.length };
            },
          }
        : {}),
    }),
  });
  return r;
}

interface SinkSpecLike {
  name: string;
  type: string;
  definition: SinkDefinition;
  config: unknown;
  batch?: Partial<SinkPlan['batch']>;
  retry?: Partial<SinkPlan['retry']>;
}

/** A recorder as a sink of the plan. */
function recorderSink(
  rec: Recorder,
  name = 'rec',
  options: Pick<SinkSpecLike, 'batch' | 'retry'> = {},
): SinkSpecLike {
  return { name, type: 'recorder', definition: rec.definition, config: {}, ...options };
}

/** A source whose first attempt of each run fails at its second batch, as a dropped connection does. */
function firstAttemptFailsAtBatch2(): TickSourceProbe {
  return {
    events: [],
    runs: [],
    onRead: (run, batch) => {
      if (run.attempt === 1 && batch === 2) throw new Error('connection reset by peer');
    },
  };
}

async function harness(options: {
  probe?: TickSourceProbe;
  rows?: number;
  batchSize?: number;
  transforms?: PipelinePlan['transforms'];
  sinks: SinkSpecLike[];
}) {
  const probe = options.probe ?? { events: [], runs: [] };
  const metrics = new EngineMetrics();
  const source = tickSource(probe);
  const plan: PipelinePlan = {
    name: 'report',
    source: {
      type: source.type,
      definition: source,
      config: source.config.parse({ rows: options.rows ?? 6, batchSize: options.batchSize ?? 2 }),
    },
    transforms: options.transforms ?? [],
    sinks: options.sinks.map((s) => ({
      name: s.name,
      type: s.type,
      definition: s.definition,
      config: s.config,
      batch: { count: 100, bytes: 1 << 20, maxWaitMs: 10, ...s.batch },
      retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 5, ...s.retry },
      maxQueued: 1000,
      concurrency: 1,
    })),
    maxUnsettled: 1000,
    shutdownTimeoutMs: 1000,
    deadLetters: { maxAgeMs: DAY, maxCount: 1000 },
  };
  const backend: OutboxBackend = createMemoryBackend(plan.deadLetters, { logger: silentLogger });
  backends.push(backend);
  const ctx = (component: string): ComponentContext => ({
    pipeline: plan.name,
    component,
    logger: silentLogger,
    setState: () => undefined,
    countDropped: () => undefined,
    deadLetter: async () => undefined,
    metrics: componentMetrics(metrics.registry, plan.name, component),
  });
  const sinks: RunSink[] = plan.sinks.map((sp) => ({
    plan: sp,
    sink: sp.definition.create(sp.config, ctx(sp.name)),
  }));
  for (const s of sinks) await s.sink.connect(new AbortController().signal);
  closers.push(async () => {
    for (const s of sinks) await s.sink.close();
  });
  const runTick = createRunTick({
    plan,
    sinks,
    metrics,
    logger: silentLogger,
    deadLetters: backend.deadLetters,
    componentContext: (component) => ctx(component),
  });
  return {
    plan,
    probe,
    metrics,
    backend,
    runTick,
    run: (t = tick()) => runTick(t, new AbortController().signal),
  };
}

async function transformPlan(spec: typeof aggregateTransformSpec, config: unknown) {
  const definition = await spec.load();
  return {
    type: spec.type,
    definition,
    config: definition.config.parse(config),
  } as PipelinePlan['transforms'][number];
}

const backends: OutboxBackend[] = [];
const closers: (() => Promise<void>)[] = [];
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'passerelle-run-'));
});
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  for (const b of backends.splice(0)) await b.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('run executor', () => {
  it('reads the window, stamps meta.run on every message and writes batches of batch.count to each sink', async () => {
    const log = await logSinkSpec.load();
    const file = join(dir, 'run-log.jsonl');
    const rec = recorder(false);
    const h = await harness({
      rows: 7,
      batchSize: 3,
      sinks: [
        {
          name: 'file',
          type: 'log',
          definition: log as SinkDefinition,
          config: log.config.parse({ output: file }),
          batch: { count: 4 },
        },
        recorderSink(rec, 'rec', { batch: { count: 3 } }),
      ],
    });
    const summary = await h.run();
    expect(summary).toEqual({ read: 7, rows: { file: 7, rec: 7 }, outputs: {}, deadLettered: 0 });
    expect(rec.batches.map((b) => b.length)).toEqual([3, 3, 1]);
    const id = runId('report', WINDOW.end);
    expect(id).toBe('report@2026-12-05T00:00:00.000Z');
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Message);
    expect(lines).toHaveLength(7);
    for (const line of lines) expect(line.meta[RUN_META_KEY]).toEqual({ id, window: WINDOW });
    // The reader was connected for the run and closed after it.
    expect(h.probe.events).toEqual(['connect', `read ${id}`, 'close']);
    expect(h.probe.runs[0]).toEqual({
      id,
      pipeline: 'report',
      window: WINDOW,
      scheduledAt: WINDOW.end,
      attempt: 1,
      timeZone: 'UTC',
    });
    expect(await total(h.metrics.received, { pipeline: 'report' })).toBe(7);
    expect(await total(h.metrics.delivered, { pipeline: 'report', sink: 'file' })).toBe(7);
  });

  it('splits batches by batch.bytes too', async () => {
    const rec = recorder(false);
    const h = await harness({
      rows: 6,
      batchSize: 6,
      sinks: [recorderSink(rec, 'rec', { batch: { count: 100, bytes: 1 } })],
    });
    await h.run();
    expect(rec.batches.map((b) => b.length)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('creates the transforms fresh for each run and closes their windows at the end of the run', async () => {
    const rec = recorder(true);
    const aggregate = await transformPlan(aggregateTransformSpec, {
      window: '1d',
      key: 'none',
      fields: ['payload.value'],
      functions: ['count', 'sum'],
    });
    const h = await harness({
      rows: 4,
      transforms: [aggregate],
      sinks: [recorderSink(rec)],
    });
    const first = await h.run();
    const next = { start: WINDOW.end, end: WINDOW.end + DAY };
    const second = await h.run(tick(1, next));
    expect(first.rows).toEqual({ rec: 1 });
    expect(second.rows).toEqual({ rec: 1 });
    // Each run's aggregate holds that run's four readings only: nothing carried over.
    const payloads = [...rec.runs.values()].map((rows) => rows.map((m) => m.payload));
    expect(payloads).toEqual(
      [[{ value: { count: 4, sum: 6 } }], [{ value: { count: 4, sum: 6 } }]].map((x) =>
        x.map((p) => expect.objectContaining(p)),
      ),
    );
    const out = rec.runs.get(runId('report', next.end))![0]!;
    expect(out.meta[RUN_META_KEY]).toEqual({ id: runId('report', next.end), window: next });
    expect(await total(h.metrics.generated, { pipeline: 'report' })).toBe(2);
  });

  it('calls beginRun before the first write and endRun after the last, and reports the outputs', async () => {
    const rec = recorder(true);
    const h = await harness({
      rows: 3,
      batchSize: 3,
      sinks: [recorderSink(rec, 'report', { batch: { count: 2 } })],
    });
    const summary = await h.run();
    const id = runId('report', WINDOW.end);
    expect(rec.calls).toEqual([`begin ${id}`, 'write 2', 'write 1', `end ${id}`]);
    expect(summary.outputs).toEqual({ report: { targets: [`report-${id}`], rows: 3 } });
  });

  it('a run that fails part way throws, and its rerun replaces the output (no duplicates in a run-aware sink)', async () => {
    const rec = recorder(true);
    const probe = firstAttemptFailsAtBatch2();
    const h = await harness({
      probe,
      rows: 6,
      batchSize: 2,
      sinks: [recorderSink(rec, 'report', { batch: { count: 1 } })],
    });
    const failed = await h.run(tick(1)).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(RunFailedError);
    expect((failed as Error).message).toMatch(
      /report@2026-12-05T00:00:00.000Z failed: connection reset by peer/,
    );
    // The reader is closed even when the run fails.
    expect(probe.events.at(-1)).toBe('close');
    const id = runId('report', WINDOW.end);
    expect(rec.runs.has(id)).toBe(false);
    const summary = await h.run(tick(2));
    expect(summary.rows).toEqual({ report: 6 });
    const rows = rec.runs.get(id)!;
    expect(rows.map((m) => m.id)).toEqual([...new Set(rows.map((m) => m.id))]);
    expect(rows).toHaveLength(6);
    expect(rec.runs.size).toBe(1);
  });

  it('a sink that keeps failing fails the run after its retry attempts, naming the sink and the error', async () => {
    const rec = recorder(false);
    rec.fail = () => new RetryableError('HTTP 503 from the API');
    const ok = recorder(false);
    const h = await harness({
      rows: 2,
      sinks: [recorderSink(ok, 'ok'), recorderSink(rec, 'sheets', { retry: { attempts: 4 } })],
    });
    const error = await h.run().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunFailedError);
    expect((error as Error).message).toContain(
      'sink sheets: 2 message(s) not written after 4 attempt(s): HTTP 503 from the API',
    );
    expect(rec.writes).toBe(4);
    expect(await total(h.metrics.retries, { sink: 'sheets' })).toBe(3);
    // Nothing was dead-lettered: the rerun is the retry.
    expect(await h.backend.deadLetters.count({ pipeline: 'report' })).toBe(0);
  });

  it('retries a transient failure and completes', async () => {
    const rec = recorder(false);
    rec.fail = (_b, n) => (n === 1 ? new RetryableError('timeout') : undefined);
    const h = await harness({
      rows: 2,
      sinks: [recorderSink(rec)],
    });
    const summary = await h.run();
    expect(summary.rows).toEqual({ rec: 2 });
    expect(rec.writes).toBe(2);
  });

  it('a FatalError dead-letters that batch in the pipeline dead letters; the run completes', async () => {
    const rec = recorder(false);
    rec.fail = (batch) =>
      batch.some((m) => (m.payload as { value: number }).value === 2)
        ? new FatalError('400 bad row')
        : undefined;
    const h = await harness({
      rows: 6,
      sinks: [recorderSink(rec, 'rec', { batch: { count: 2 } })],
    });
    const summary = await h.run();
    expect(summary.rows).toEqual({ rec: 4 });
    expect(summary.deadLettered).toBe(2);
    const dead = await h.backend.deadLetters.list({ pipeline: 'report' });
    expect(
      dead.map((d) => [d.stage, d.sink, d.reason, (d.message.payload as { value: number }).value]),
    ).toEqual([
      ['rec', 'rec', '400 bad row', 2],
      ['rec', 'rec', '400 bad row', 3],
    ]);
    expect(dead[0]!.message.meta[RUN_META_KEY]).toMatchObject({ id: runId('report', WINDOW.end) });
    expect(await total(h.metrics.deadLettered, { pipeline: 'report', stage: 'rec' })).toBe(2);
  });

  it('a BatchError settles the good part, dead-letters the fatal part and retries the rest', async () => {
    const rec = recorder(false);
    rec.fail = (_batch, n) =>
      n === 1
        ? new BatchError([
            { index: 0, error: new FatalError('bad value') },
            { index: 2, error: new RetryableError('busy') },
          ])
        : undefined;
    const h = await harness({
      rows: 4,
      batchSize: 4,
      sinks: [recorderSink(rec, 'rec', { batch: { count: 4 } })],
    });
    const summary = await h.run();
    expect(summary.rows).toEqual({ rec: 3 });
    expect(summary.deadLettered).toBe(1);
    // The retry carries only the message that failed transiently.
    expect(rec.calls).toEqual(['write 4', 'write 1']);
    expect((rec.batches[0]![0]!.payload as { value: number }).value).toBe(2);
  });

  it('transform rejects go to the dead letters and are counted', async () => {
    const rec = recorder(false);
    const h = await harness({
      rows: 5,
      transforms: [{ type: 'reject-odd', definition: rejectOddTransform, config: {} }],
      sinks: [recorderSink(rec)],
    });
    const summary = await h.run();
    expect(summary).toMatchObject({ read: 5, rows: { rec: 3 }, deadLettered: 2 });
    const dead = await h.backend.deadLetters.list({ pipeline: 'report' });
    expect(dead.map((d) => [d.stage, d.reason])).toEqual([
      ['transforms[0]', 'odd value'],
      ['transforms[0]', 'odd value'],
    ]);
    expect(await total(h.metrics.deadLettered, { pipeline: 'report', stage: 'transforms[0]' })).toBe(2);
  });

  it('an aborted run fails and closes its reader', async () => {
    const rec = recorder(false);
    const controller = new AbortController();
    const probe: TickSourceProbe = {
      events: [],
      runs: [],
      onRead: (_r, batch) => batch === 1 && controller.abort(new Error('run timed out after 1h')),
    };
    const h = await harness({
      probe,
      rows: 6,
      sinks: [recorderSink(rec)],
    });
    const error = await h.runTick(tick(), controller.signal).catch((e: unknown) => e);
    expect((error as Error).message).toContain('run timed out after 1h');
    expect(probe.events.at(-1)).toBe('close');
  });
});

describe('run executor with the Excel sink (rotate: run)', () => {
  it('a run that fails part way and its rerun leave one file with each row once (openpyxl)', async () => {
    const def = (await excelSinkSpec.load()) as SinkDefinition;
    const folder = mkdtempSync(join(dir, 'excel-'));
    const probe = firstAttemptFailsAtBatch2();
    const h = await harness({
      probe,
      rows: 6,
      batchSize: 2,
      sinks: [
        {
          name: 'excel',
          type: 'excel',
          definition: def,
          config: def.config.parse({
            directory: folder,
            rotate: 'run',
            timeZone: 'UTC',
            fileName: 'daily-{{window.start:YYYY-MM-DD}}',
            columns: [
              { header: 'id', value: 'id', type: 'text' },
              { header: 'value', value: 'payload.value', type: 'number' },
            ],
          }),
          batch: { count: 2 },
        },
      ],
    });
    await expect(h.run(tick(1))).rejects.toThrow(/connection reset by peer/);
    // The failed attempt's rows (two batches written) never show as a file.
    expect(await xlsxFiles(folder)).toEqual([]);
    const summary = await h.run(tick(2));
    expect(summary.rows).toEqual({ excel: 6 });
    expect(summary.outputs.excel).toMatchObject({ rows: 6 });
    expect(await xlsxFiles(folder)).toEqual(['daily-2026-12-04.xlsx']);
    // A third run of the same tick replaces the file: still six rows.
    await h.run(tick(3));
    expect(await xlsxFiles(folder)).toEqual(['daily-2026-12-04.xlsx']);
    const sheets = await readWithOpenpyxl(join(folder, 'daily-2026-12-04.xlsx'));
    const rows = sheets.flatMap((sh) => sh.rows.slice(1));
    expect(rows.map((r) => r[1])).toEqual([0, 1, 2, 3, 4, 5]);
    expect(new Set(rows.map((r) => r[0])).size).toBe(6);
  });
});

describe('run executor with MQTT', () => {
  let broker: ServiceHandle;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => broker?.dispose());

  it('publishes every message of the run to the broker', async () => {
    const def = (await mqttSinkSpec.load()) as SinkDefinition;
    const received: unknown[] = [];
    const client = await mqtt.connectAsync(broker.url, { clientId: `run-test-${process.pid}` });
    client.on('message', (_t, payload) => received.push(JSON.parse(payload.toString())));
    await client.subscribeAsync('report/out', { qos: 1 });
    try {
      const h = await harness({
        rows: 5,
        sinks: [
          {
            name: 'mqtt',
            type: 'mqtt',
            definition: def,
            config: def.config.parse({ url: broker.url, topic: 'report/out', qos: 1 }),
            batch: { count: 2 },
          },
        ],
      });
      const summary = await h.run();
      expect(summary.rows).toEqual({ mqtt: 5 });
      const deadline = Date.now() + 10_000;
      while (received.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(received).toEqual([0, 1, 2, 3, 4].map((value) => ({ value })));
    } finally {
      await client.endAsync();
    }
  });
});
