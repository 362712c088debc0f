import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { scheduleOptions } from '../../config/pipeline-schema.js';
import { silentLogger } from '../../sdk/index.js';
import { SchedulerStoppedError } from './core.js';
import { createScheduler, ScheduleMetrics, type RunSummary, type Tick } from './index.js';

/* The in-process scheduler on a fake clock: the same tick semantics as the Redis one, for one process. */

const T0 = Date.parse('2026-12-05T10:00:30Z');
const MIN = 60_000;
const summary = (rows = 2): RunSummary => ({ read: rows, rows: { out: rows }, outputs: {}, deadLettered: 0 });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function setup(schedule: Record<string, unknown>) {
  const metrics = new ScheduleMetrics(new Registry());
  const scheduler = createScheduler({
    pipeline: 'p',
    options: scheduleOptions.parse(schedule),
    logger: silentLogger,
    metrics,
  });
  return { scheduler, metrics };
}
async function value(
  metric: { get(): Promise<{ values: { labels: object; value: number }[] }> },
  labels: object,
) {
  const v = (await metric.get()).values.find((x) => JSON.stringify(x.labels) === JSON.stringify(labels));
  return v?.value;
}

beforeEach(() => vi.useFakeTimers({ now: T0 }));
afterEach(() => vi.useRealTimers());

describe('in-process scheduler', () => {
  it('runs each tick once, on time, with its window; status and metrics follow', async () => {
    const { scheduler, metrics } = setup({ every: '1m' });
    const ticks: Tick[] = [];
    await scheduler.start(async (tick) => {
      ticks.push(tick);
      await sleep(1000);
      return summary(3);
    });
    expect(scheduler.status()).toMatchObject({
      description: 'every 1m',
      store: 'process',
      next: T0 + 30_000,
      missed: 0,
    });
    await vi.advanceTimersByTimeAsync(30_000 + 5 * MIN + 2000);
    expect(ticks.map((t) => t.scheduledAt - T0)).toEqual([
      30_000, 90_000, 150_000, 210_000, 270_000, 330_000,
    ]);
    for (const t of ticks) {
      expect(t.window).toEqual({ start: t.scheduledAt - MIN, end: t.scheduledAt });
      expect(t.attempt).toBe(1);
      expect(t.timeZone).toBe('UTC');
    }
    const status = scheduler.status();
    expect(status.last).toEqual({
      scheduledAt: T0 + 330_000,
      window: { start: T0 + 270_000, end: T0 + 330_000 },
      startedAt: T0 + 330_000,
      durationMs: 1000,
      rows: 3,
      attempt: 1,
      outcome: 'completed',
    });
    expect(status.next).toBe(T0 + 390_000);
    expect(await value(metrics.runs, { pipeline: 'p', outcome: 'completed' })).toBe(6);
    expect(await value(metrics.lastSuccess, { pipeline: 'p' })).toBe((T0 + 331_000) / 1000);
    expect(await value(metrics.nextTick, { pipeline: 'p' })).toBe((T0 + 390_000) / 1000);
    expect(await value(metrics.period, { pipeline: 'p' })).toBe(60);
    await scheduler.stop();
    expect(scheduler.status().next).toBeUndefined();
  });

  it('retries a failed run by schedule.retry (delays doubling, capped), then fails it: outcome and metric', async () => {
    const { scheduler, metrics } = setup({
      every: '1h',
      retry: { attempts: 3, initialDelay: '1m', maxDelay: '90s' },
    });
    const attempts: { at: number; tick: Tick }[] = [];
    await scheduler.start((tick) => {
      attempts.push({ at: Date.now(), tick });
      return Promise.reject(new Error(`sink down (attempt ${tick.attempt})`));
    });
    const due = Date.parse('2026-12-05T11:00:00Z');
    await vi.advanceTimersByTimeAsync(due - T0 + 3 * MIN);
    expect(attempts.map((a) => [a.at - due, a.tick.attempt, a.tick.scheduledAt])).toEqual([
      [0, 1, due],
      [MIN, 2, due],
      [MIN + 90_000, 3, due],
    ]);
    expect(scheduler.status().last).toMatchObject({
      scheduledAt: due,
      attempt: 3,
      outcome: 'failed',
      error: 'sink down (attempt 3)',
    });
    expect(await value(metrics.runs, { pipeline: 'p', outcome: 'retried' })).toBe(2);
    expect(await value(metrics.runs, { pipeline: 'p', outcome: 'failed' })).toBe(1);
    expect(await value(metrics.lastSuccess, { pipeline: 'p' })).toBeUndefined();
    await scheduler.stop();
  });

  it('aborts a run at schedule.timeout and retries it', async () => {
    const { scheduler } = setup({ every: '1h', timeout: '10s', retry: { attempts: 2, initialDelay: '1s' } });
    const reasons: string[] = [];
    await scheduler.start((tick, signal) =>
      tick.attempt === 2
        ? Promise.resolve(summary())
        : new Promise((_, reject) =>
            signal.addEventListener('abort', () => {
              reasons.push(String((signal.reason as Error).message));
              reject(signal.reason as Error);
            }),
          ),
    );
    const due = Date.parse('2026-12-05T11:00:00Z');
    await vi.advanceTimersByTimeAsync(due - T0 + 9_999);
    expect(reasons).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(reasons).toEqual(['run timed out after 10s (schedule.timeout)']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(scheduler.status().last).toMatchObject({ scheduledAt: due, attempt: 2, outcome: 'completed' });
    await scheduler.stop();
  });

  it('gives up on a run that ignores its signal at the timeout, so the schedule goes on', async () => {
    const { scheduler } = setup({ every: '1m', timeout: '5s', retry: { attempts: 1 } });
    const ticks: number[] = [];
    await scheduler.start((tick) => {
      ticks.push(tick.scheduledAt);
      return new Promise(() => undefined);
    });
    await vi.advanceTimersByTimeAsync(30_000 + 2 * MIN + 5000);
    expect(ticks.map((t) => t - T0)).toEqual([30_000, 90_000, 150_000]);
    expect(scheduler.status().last?.outcome).toBe('failed');
    await scheduler.stop();
  });

  for (const policy of ['run-once', 'skip'] as const)
    it(`ticks passed during a long run are missed: ${policy}`, async () => {
      const { scheduler, metrics } = setup({ every: '1m', missed: policy });
      const ticks: Tick[] = [];
      await scheduler.start(async (tick) => {
        ticks.push(tick);
        if (ticks.length === 1) await sleep(3.5 * MIN); // past the next three ticks
        return summary();
      });
      const first = T0 + 30_000;
      await vi.advanceTimersByTimeAsync(30_000 + MIN);
      // While the first run goes on, the next tick shown is the one after it (already late).
      expect(scheduler.status()).toMatchObject({
        next: first + MIN,
        last: { scheduledAt: first, outcome: 'running' },
      });
      await vi.advanceTimersByTimeAsync(2.5 * MIN + 1);
      // Taken at first + 3.5 min: the ticks first + 1, 2, 3 min are all due and past the grace.
      const latest = first + 3 * MIN;
      if (policy === 'run-once') {
        expect(ticks.map((t) => t.scheduledAt)).toEqual([first, latest]);
        expect(ticks[1]!.window).toEqual({ start: latest - MIN, end: latest });
        expect(scheduler.status().last).toMatchObject({ scheduledAt: latest, outcome: 'completed' });
      } else {
        expect(ticks.map((t) => t.scheduledAt)).toEqual([first]);
        expect(scheduler.status().last).toMatchObject({ scheduledAt: latest, outcome: 'skipped' });
      }
      expect(scheduler.status().missed).toBe(3);
      expect(await value(metrics.missed, { pipeline: 'p', policy })).toBe(3);
      // Then back on time: the next tick after the late pickup.
      await vi.advanceTimersByTimeAsync(MIN);
      expect(ticks.at(-1)!.scheduledAt).toBe(first + 4 * MIN);
      expect(scheduler.status().missed).toBe(3);
      await scheduler.stop();
    });

  it('a tick a little late (within the grace) is on time', async () => {
    const { scheduler } = setup({ every: '1h', timeout: '2h' });
    const ticks: Tick[] = [];
    await scheduler.start(async (tick) => {
      ticks.push(tick);
      if (ticks.length === 1) await sleep(60 * MIN + 40_000); // the next tick starts 40 s late
      return summary();
    });
    const first = Date.parse('2026-12-05T11:00:00Z');
    await vi.advanceTimersByTimeAsync(first - T0 + 61 * MIN);
    expect(ticks.map((t) => t.scheduledAt)).toEqual([first, first + 60 * MIN]);
    const last = scheduler.status().last!;
    expect(last).toMatchObject({ scheduledAt: first + 60 * MIN, outcome: 'completed' });
    expect(last.startedAt - last.scheduledAt).toBeGreaterThanOrEqual(40_000);
    expect(scheduler.status().missed).toBe(0);
    await scheduler.stop();
  });

  it('stop aborts the run in progress and does not retry it', async () => {
    const { scheduler } = setup({ every: '1m' });
    const reasons: unknown[] = [];
    let calls = 0;
    await scheduler.start(
      (_tick, signal) =>
        new Promise((_, reject) => {
          calls++;
          signal.addEventListener('abort', () => {
            reasons.push(signal.reason);
            reject(signal.reason as Error);
          });
        }),
    );
    await vi.advanceTimersByTimeAsync(31_000);
    await scheduler.stop();
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toBeInstanceOf(SchedulerStoppedError);
    await vi.advanceTimersByTimeAsync(10 * MIN);
    expect(calls).toBe(1);
    expect(scheduler.status().next).toBeUndefined();
  });
});
