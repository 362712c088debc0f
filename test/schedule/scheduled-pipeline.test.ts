import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadPipelineTexts } from '../../src/config/index.js';
import { createMemoryBackend } from '../../src/outbox/index.js';
import { builtinRegistry, type Registry } from '../../src/registry/index.js';
import { z } from 'zod';
import { RUN_META_KEY, defineSink, silentLogger, type ComponentContext } from '../../src/sdk/index.js';
import { toPlan } from '../../src/runtime/plan.js';
import { Service } from '../../src/runtime/service.js';
import type { PipelinePlan } from '../../src/engine/plan.js';
import { ScheduledPipeline } from '../../src/engine/schedule/scheduled-pipeline.js';
import type {
  RunSummary,
  RunTick,
  ScheduleStatus,
  Scheduler,
  SchedulerDeps,
  Tick,
} from '../../src/engine/schedule/types.js';
import { waitFor } from '../conformance/context.js';
import { tickSource, type TickSourceProbe } from '../../src/engine/schedule/tick-source.fixture.js';

/*
 * The scheduled pipeline inside the service, with a minimal fake scheduler (the real ones are
 * tested in src/engine/schedule): sinks connected once, the executor called per tick, /status and
 * /readyz, reload and stop.
 */

/** Records what the service asks of a scheduler; the test fires ticks by hand. */
class FakeScheduler implements Scheduler {
  run: RunTick | undefined;
  stopped = false;
  last: ScheduleStatus['last'];
  constructor(readonly deps: SchedulerDeps) {}
  async start(run: RunTick): Promise<void> {
    this.run = run;
  }
  status(): ScheduleStatus {
    return {
      description: `fake ${this.deps.options.every ?? this.deps.options.cron}`,
      store: 'process',
      next: 1_800_000_000_000,
      ...(this.last ? { last: this.last } : {}),
      missed: 0,
    };
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  async fire(tick: Tick): Promise<RunSummary> {
    const startedAt = Date.now();
    try {
      const summary = await this.run!(tick, new AbortController().signal);
      const rows = Object.values(summary.rows).reduce((a, b) => a + b, 0);
      this.last = { ...tick, startedAt, durationMs: 1, rows, outcome: 'completed' };
      return summary;
    } catch (error) {
      this.last = { ...tick, startedAt, outcome: 'failed', error: (error as Error).message };
      throw error;
    }
  }
}

const WINDOW = { start: Date.UTC(2026, 11, 4, 5), end: Date.UTC(2026, 11, 4, 6) };
const tick: Tick = { scheduledAt: WINDOW.end, window: WINDOW, attempt: 1, timeZone: 'UTC' };

let dir: string;
const probe: TickSourceProbe = { events: [], runs: [] };
/** A sink whose lease the test moves: `standby` (another replica writes it) or `connected`. */
const leased: { ctx?: ComponentContext } = {};
const leasedSink = defineSink({
  type: 'leased-test',
  title: 'Leased test sink',
  summary: 'Reports standby until the test gives it the lease.',
  config: z.strictObject({}),
  delivery: () => 'at-least-once',
  create: (_config, ctx) => ({
    connect: async () => {
      leased.ctx = ctx;
      ctx.setState('standby');
    },
    write: async () => {},
    close: async () => {},
  }),
});
const registry: Registry = {
  ...builtinRegistry,
  sources: [...builtinRegistry.sources, tickSource(probe)],
  sinks: [...builtinRegistry.sinks, leasedSink],
};
const cleanups: (() => Promise<void>)[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'passerelle-scheduled-'));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function plansOf(yaml: string): Promise<PipelinePlan[]> {
  const loaded = loadPipelineTexts([{ file: 'p.yaml', text: yaml }], registry);
  expect(loaded.issues).toEqual([]);
  return Promise.all(loaded.pipelines.map((p) => toPlan(p, registry)));
}

function pipelineYaml(name: string, every: string, file: string): string {
  return [
    `name: ${name}`,
    `schedule: { every: ${every} }`,
    'source: { type: tick-test, rows: 3 }',
    'sinks:',
    `  - { type: log, output: ${file} }`,
    '',
  ].join('\n');
}

async function startService(plans: PipelinePlan[]) {
  const schedulers: FakeScheduler[] = [];
  const backend = createMemoryBackend({ maxAgeMs: 60_000, maxCount: 100 }, { logger: silentLogger });
  const service = new Service({
    plans,
    backend,
    logger: silentLogger,
    http: { host: '127.0.0.1', port: 0 },
    createScheduler: (deps) => {
      const s = new FakeScheduler(deps);
      schedulers.push(s);
      return s;
    },
  });
  await service.start();
  cleanups.push(() => service.stop());
  return { service, schedulers };
}

describe('scheduled pipeline in the service', () => {
  it('starts a scheduler per scheduled pipeline; each tick runs the executor; /status shows the schedule', async () => {
    const file = join(dir, 'hourly.jsonl');
    const { service, schedulers } = await startService(await plansOf(pipelineYaml('hourly', '1h', file)));
    expect(service.pipelines[0]).toBeInstanceOf(ScheduledPipeline);
    expect(schedulers).toHaveLength(1);
    expect(schedulers[0]!.deps.pipeline).toBe('hourly');
    expect(schedulers[0]!.deps.options).toMatchObject({ every: 3_600_000, timeZone: 'UTC' });

    await waitFor(() => service.pipelines[0]!.ready(), 'sinks connected');
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200);

    const summary = await schedulers[0]!.fire(tick);
    expect(summary).toMatchObject({ read: 3, rows: { log: 3 } });
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[0]!).meta[RUN_META_KEY].id).toBe('hourly@2026-12-04T06:00:00.000Z');

    const status = (await (await fetch(`${service.url}/status`)).json()) as {
      pipelines: {
        name: string;
        state: string;
        schedule: ScheduleStatus;
        components: { component: string; state: string }[];
        recent: unknown[];
      }[];
    };
    const p = status.pipelines[0]!;
    expect(p.name).toBe('hourly');
    expect(p.state).toBe('running');
    expect(p.schedule).toMatchObject({
      description: 'fake 3600000',
      next: 1_800_000_000_000,
      last: { window: WINDOW, rows: 3, outcome: 'completed' },
    });
    expect(p.components.map((c) => [c.component, c.state])).toEqual([
      ['source', 'standby'],
      ['log', 'connected'],
    ]);
    expect(p.recent).toHaveLength(3);
    // The console's overview carries it too.
    const overview = (await (await fetch(`${service.url}/api/overview`)).json()) as {
      pipelines: { schedule?: unknown }[];
    };
    expect(overview.pipelines[0]!.schedule).toMatchObject({ last: { outcome: 'completed' } });
  });

  it('a failed run shows on the status with its error, and the pipeline runs on', async () => {
    const file = join(dir, 'failing.jsonl');
    const plans = await plansOf(pipelineYaml('failing', '15m', file));
    const { service, schedulers } = await startService(plans);
    probe.onRead = () => {
      throw new Error('query timed out');
    };
    try {
      await expect(schedulers[0]!.fire(tick)).rejects.toThrow(/query timed out/);
    } finally {
      probe.onRead = undefined;
    }
    const [status] = await Promise.all(service.pipelines.map((p) => p.status()));
    expect((status as unknown as { schedule: ScheduleStatus }).schedule.last).toMatchObject({
      outcome: 'failed',
    });
    const source = status!.components.find((c) => c.component === 'source')!;
    expect(source.lastError?.message).toContain('query timed out');
    await expect(schedulers[0]!.fire({ ...tick, attempt: 2 })).resolves.toMatchObject({ rows: { log: 3 } });
  });

  it('reload: a changed schedule stops the old scheduler and starts a new one; stop stops it', async () => {
    const file = join(dir, 'reload.jsonl');
    const { service, schedulers } = await startService(await plansOf(pipelineYaml('reloaded', '1h', file)));
    const unchanged = await service.applyPlans(await plansOf(pipelineYaml('reloaded', '1h', file)));
    expect(unchanged.unchanged).toEqual(['reloaded']);
    expect(schedulers).toHaveLength(1);
    const changed = await service.applyPlans(await plansOf(pipelineYaml('reloaded', '2h', file)));
    expect(changed.changed).toEqual(['reloaded']);
    expect(schedulers).toHaveLength(2);
    expect(schedulers[0]!.stopped).toBe(true);
    expect(schedulers[1]!.deps.options.every).toBe(7_200_000);
    await expect(schedulers[1]!.fire(tick)).resolves.toMatchObject({ rows: { log: 3 } });
    await service.stop();
    expect(schedulers[1]!.stopped).toBe(true);
  });

  it('ticks are left to the replica that holds a sink (lease): the scheduler runs only while no sink is in standby', async () => {
    const yaml = [
      'name: leased',
      'schedule: { every: 1h }',
      'source: { type: tick-test, rows: 1 }',
      'sinks: [{ type: leased-test }]',
      '',
    ].join('\n');
    const { service, schedulers } = await startService(await plansOf(yaml));
    // Another replica holds the lease from the start: this one takes no ticks.
    await waitFor(() => service.pipelines[0]!.ready(), 'sink in standby');
    expect(schedulers).toHaveLength(0);
    // The lease comes here (the other replica died): this replica takes the ticks.
    leased.ctx!.setState('connected');
    await waitFor(() => schedulers.length === 1, 'a scheduler started once the sink is connected');
    expect(schedulers[0]!.run).toBeDefined();
    expect(schedulers[0]!.stopped).toBe(false);
    await expect(schedulers[0]!.fire(tick)).resolves.toMatchObject({ rows: { 'leased-test': 1 } });
    // And hands them back when it loses the lease again.
    leased.ctx!.setState('standby');
    await waitFor(() => schedulers[0]!.stopped, 'scheduler stopped again');
    expect(schedulers).toHaveLength(1);
  });
});
