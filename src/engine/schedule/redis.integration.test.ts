import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type ServiceHandle } from '../../../test/harness/services.js';
import { sleep, waitFor } from '../../../test/conformance/outbox.js';
import { scheduleOptions } from '../../config/pipeline-schema.js';
import { silentLogger } from '../../sdk/index.js';
import { SchedulerStoppedError } from './core.js';
import {
  createScheduler,
  removeSchedule,
  ScheduleMetrics,
  type RunSummary,
  type RunTick,
  type Scheduler,
  type Tick,
} from './index.js';

/*
 * The Redis scheduler against a real Redis and BullMQ 6.7: ticks are jobs of a job scheduler, each
 * run by one replica. Real time (BullMQ stamps jobs with Date.now()), short `every`; nothing here
 * bounds how long a step takes, the timeouts are only failure guards.
 */

let redis: ServiceHandle;
let prefixes = 0;
const children: ChildProcessWithoutNullStreams[] = [];
const schedulers: Scheduler[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(schedulers.map((s) => s.stop().catch(() => undefined)));
  await redis?.dispose();
});

const ok = (): RunSummary => ({ read: 1, rows: { a: 2, b: 3 }, outputs: {}, deadLettered: 0 });

function scheduler(
  prefix: string,
  schedule: Record<string, unknown>,
  extra: { lockDurationMs?: number } = {},
) {
  const metrics = new ScheduleMetrics(new Registry());
  const s = createScheduler({
    pipeline: 'report',
    options: scheduleOptions.parse(schedule),
    logger: silentLogger,
    redisUrl: redis.url,
    prefix,
    metrics,
    lockDurationMs: extra.lockDurationMs ?? 1000,
    stalledIntervalMs: 500,
    statusRefreshMs: 200,
  });
  schedulers.push(s);
  return { s, metrics };
}

/** Another replica in a child process; `ticks` fills with the ticks it runs. */
function childReplica(prefix: string, every: number, mode: 'ok' | 'hang') {
  const child = spawn(
    process.execPath,
    [
      '--import',
      fileURLToPath(new URL('../../outbox/fixtures/register.mjs', import.meta.url)),
      fileURLToPath(new URL('./fixtures/replica.mjs', import.meta.url)),
      redis.url,
      prefix,
      'report',
      String(every),
      mode,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  children.push(child);
  const ticks: (Tick & { pid: number })[] = [];
  let out = '';
  let err = '';
  let started = false;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const lines = out.split('\n');
    out = lines.pop()!;
    for (const line of lines)
      if (line === 'started') started = true;
      else if (line) ticks.push(JSON.parse(line) as Tick & { pid: number });
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, ticks, started: () => started, stderr: () => err, exited };
}

async function value(
  metric: { get(): Promise<{ values: { labels: object; value: number }[] }> },
  labels: object,
) {
  const v = (await metric.get()).values.find((x) => JSON.stringify(x.labels) === JSON.stringify(labels));
  return v?.value;
}

describe('redis scheduler (BullMQ job schedulers)', () => {
  it('two replicas in two processes: 20 ticks, each run exactly once, the last one visible on both', async () => {
    const prefix = `s${++prefixes}`;
    const every = 1000;
    const other = childReplica(prefix, every, 'ok');
    await waitFor(other.started, 30_000, `the child replica to start (${other.stderr()})`);
    const here: Tick[] = [];
    const { s } = scheduler(prefix, { every: '1s' });
    await s.start((tick) => {
      here.push(tick);
      return Promise.resolve(ok());
    });
    const all = (): Tick[] => [...here, ...other.ticks].sort((a, b) => a.scheduledAt - b.scheduledAt);
    await waitFor(() => all().length >= 20, 120_000, '20 ticks');
    other.child.kill('SIGTERM');
    await other.exited;
    const ticks = all();
    const times = ticks.map((t) => t.scheduledAt);
    expect(new Set(times).size).toBe(times.length); // none ran twice
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(every); // none skipped
    for (const t of ticks) {
      expect(t.scheduledAt % every).toBe(0); // aligned to the epoch
      expect(t.window).toEqual({ start: t.scheduledAt - every, end: t.scheduledAt });
      expect(t.attempt).toBe(1);
    }
    // Both replicas took ticks (each is free between its runs, so BullMQ spreads them).
    expect(here.length).toBeGreaterThan(0);
    expect(other.ticks.length).toBeGreaterThan(0);
    // The last tick, whichever replica ran it, is in this replica's status (read back from Redis).
    const last = Math.max(...[...here, ...other.ticks].map((t) => t.scheduledAt));
    await waitFor(() => (s.status().last?.scheduledAt ?? 0) >= last, 10_000, 'the shared status');
    expect(s.status()).toMatchObject({ description: 'every 1s', store: 'redis', missed: 0 });
    await s.stop();
  });

  it('a replica killed during a run: the tick runs again on the other one, same window, next attempt', async () => {
    const prefix = `s${++prefixes}`;
    const victim = childReplica(prefix, 2000, 'hang');
    await waitFor(() => victim.ticks.length === 1, 30_000, `the child to take a tick (${victim.stderr()})`);
    const taken = victim.ticks[0]!;
    const here: Tick[] = [];
    const { s } = scheduler(prefix, { every: '2s' });
    await s.start((tick) => {
      here.push(tick);
      return Promise.resolve(ok());
    });
    // Killed more than a period after the tick was due: its rerun starts late, and must still be
    // the same tick (not a missed one).
    await sleep(Math.max(0, taken.scheduledAt + 2500 - Date.now()));
    victim.child.kill('SIGKILL');
    await victim.exited;
    await waitFor(
      () => here.some((t) => t.scheduledAt === taken.scheduledAt),
      30_000,
      'the killed run rerun',
    );
    const rerun = here.find((t) => t.scheduledAt === taken.scheduledAt)!;
    expect(rerun.window).toEqual(taken.window);
    expect(rerun.attempt).toBe(2);
    expect(here.filter((t) => t.scheduledAt === taken.scheduledAt)).toHaveLength(1);
    expect(s.status().missed).toBe(0);
    await s.stop();
  });

  it('stop hands the running tick back at once (no lock to wait for): another replica runs it', async () => {
    const prefix = `s${++prefixes}`;
    // Neither the lock (10 min) nor a retry (10 min) would bring the tick back within the test.
    const schedule = { every: '1s', retry: { initialDelay: '10m' } };
    const a = scheduler(prefix, schedule, { lockDurationMs: 600_000 });
    const aborted: unknown[] = [];
    const first: Tick[] = [];
    await a.s.start(
      (tick, signal) =>
        new Promise((_, reject) => {
          first.push(tick);
          signal.addEventListener('abort', () => {
            aborted.push(signal.reason);
            reject(signal.reason as Error);
          });
        }),
    );
    await waitFor(() => first.length === 1, 30_000, 'a tick taken');
    await a.s.stop();
    expect(aborted[0]).toBeInstanceOf(SchedulerStoppedError);
    const b = scheduler(prefix, schedule, { lockDurationMs: 600_000 });
    const here: Tick[] = [];
    await b.s.start((tick) => {
      here.push(tick);
      return Promise.resolve(ok());
    });
    await waitFor(
      () => here.some((t) => t.scheduledAt === first[0]!.scheduledAt),
      30_000,
      'the handed-back tick',
    );
    const again = here.find((t) => t.scheduledAt === first[0]!.scheduledAt)!;
    expect(again.window).toEqual(first[0]!.window);
    expect(again.attempt).toBe(2);
    expect(await value(a.metrics.runs, { pipeline: 'report', outcome: 'aborted' })).toBe(1);
    await b.s.stop();
  });

  for (const policy of ['run-once', 'skip'] as const)
    for (const kind of ['every', 'cron'] as const)
      it(`ticks due while no replica ran: missed ${policy} (${kind})`, async () => {
        const prefix = `s${++prefixes}`;
        // A 6-field cron: every second, as `every: 1s`.
        const schedule = {
          ...(kind === 'every' ? { every: '1s' } : { cron: '* * * * * *' }),
          missed: policy,
        };
        const a = scheduler(prefix, schedule);
        const before: Tick[] = [];
        await a.s.start((tick) => {
          before.push(tick);
          return Promise.resolve(ok());
        });
        await waitFor(() => before.length >= 1, 30_000, 'a first tick');
        await a.s.stop();
        const stoppedAt = Date.now();
        const lastRun = before.at(-1)!.scheduledAt;
        await sleep(3500); // every replica down: at least three ticks come and go
        const b = scheduler(prefix, schedule);
        const after: Tick[] = [];
        await b.s.start((tick) => {
          after.push(tick);
          return Promise.resolve(ok());
        });
        await waitFor(() => b.s.status().missed > 0, 30_000, 'the missed ticks counted');
        const { missed } = b.s.status();
        // The tick job left due at stop, and every tick after it up to the restart, are missed.
        const firstMissed = lastRun + 1000;
        expect(missed).toBeGreaterThanOrEqual(3);
        const latestMissed = firstMissed + (missed - 1) * 1000;
        expect(latestMissed).toBeGreaterThan(stoppedAt + 2000);
        expect(await value(b.metrics.missed, { pipeline: 'report', policy })).toBe(missed);
        await waitFor(() => after.some((t) => t.scheduledAt > latestMissed), 30_000, 'the next tick on time');
        if (policy === 'run-once') {
          // The latest missed tick ran once, late, with its own window; the next ones on time.
          expect(after[0]).toMatchObject({
            scheduledAt: latestMissed,
            window: { start: latestMissed - 1000, end: latestMissed },
          });
          expect(after[1]!.scheduledAt).toBe(latestMissed + 1000);
        } else {
          expect(after[0]!.scheduledAt).toBe(latestMissed + 1000);
        }
        expect(after.filter((t) => t.scheduledAt < latestMissed)).toEqual([]);
        expect(b.s.status().missed).toBe(missed);
        await b.s.stop();
      });

  it('retries a failing run by schedule.retry, then fails it: outcome, error and metrics', async () => {
    const prefix = `s${++prefixes}`;
    const { s, metrics } = scheduler(prefix, {
      every: '1h',
      retry: { attempts: 3, initialDelay: '100ms', maxDelay: '150ms' },
    });
    const seen: Tick[] = [];
    const run: RunTick = (tick) => {
      seen.push(tick);
      return Promise.reject(new Error(`sink down ${tick.attempt}`));
    };
    await s.start(run);
    await forceDue(prefix);
    await waitFor(
      () => s.status().last?.outcome === 'failed' && s.status().last?.attempt === 3,
      30_000,
      'the run failed',
    );
    expect(seen.map((t) => t.attempt)).toEqual([1, 2, 3]);
    expect(new Set(seen.map((t) => JSON.stringify([t.scheduledAt, t.window]))).size).toBe(1);
    expect(s.status().last).toMatchObject({ outcome: 'failed', error: 'sink down 3', attempt: 3 });
    expect(await value(metrics.runs, { pipeline: 'report', outcome: 'retried' })).toBe(2);
    expect(await value(metrics.runs, { pipeline: 'report', outcome: 'failed' })).toBe(1);
    expect(await value(metrics.lastSuccess, { pipeline: 'report' })).toBeUndefined();
    await s.stop();
  });

  it('schedule.timeout aborts the run; the shared status says so', async () => {
    const prefix = `s${++prefixes}`;
    const { s } = scheduler(prefix, { every: '1h', timeout: '300ms', retry: { attempts: 1 } });
    const reasons: string[] = [];
    await s.start(
      (_tick, signal) =>
        new Promise((_, reject) =>
          signal.addEventListener('abort', () => {
            reasons.push((signal.reason as Error).message);
            reject(signal.reason as Error);
          }),
        ),
    );
    await forceDue(prefix);
    await waitFor(() => s.status().last?.outcome === 'failed', 30_000, 'the run timed out');
    expect(reasons).toEqual(['run timed out after 300ms (schedule.timeout)']);
    expect(s.status().last?.error).toBe('run timed out after 300ms (schedule.timeout)');
    await s.stop();
  });
});

describe('redis scheduler: removal', () => {
  it('removeSchedule forgets the job scheduler, its next tick and the shared status', async () => {
    const prefix = `s${++prefixes}`;
    const { s } = scheduler(prefix, { every: '1h' });
    await s.start(() => Promise.resolve(ok()));
    await s.stop();
    const probe = new Redis(redis.url);
    try {
      const keys = async () => (await probe.keys(`${prefix}:*`)).sort();
      expect(await keys()).toContain(`${prefix}:schedule:report`);
      expect((await keys()).some((k) => k.includes(':repeat:tick:'))).toBe(true);
      await removeSchedule({ redisUrl: redis.url, pipeline: 'report', prefix });
      const left = await keys();
      expect(
        left.filter((k) => k.includes('repeat') || k.includes(':schedule:') || k.endsWith(':delayed')),
      ).toEqual([]);
      // Started again, it is a new schedule: the job scheduler is stored afresh.
      const again = scheduler(prefix, { every: '1h' });
      await again.s.start(() => Promise.resolve(ok()));
      expect(again.s.status().next).toBe(Math.ceil(Date.now() / 3_600_000) * 3_600_000);
      await again.s.stop();
    } finally {
      probe.disconnect();
    }
  });
  it('removeSchedule fails with a clear message, instead of waiting for ever, when Redis is not reachable', async () => {
    await expect(
      removeSchedule({ redisUrl: 'redis://:secret@127.0.0.1:1', pipeline: 'report', timeoutMs: 500 }),
    ).rejects.toThrow(
      /^schedule of report: not removed from Redis at redis:\/\/.*127\.0\.0\.1:1: timed out after 500 ms$/,
    );
  });
});

describe('redis scheduler: start', () => {
  it('fails with a clear message when Redis is not reachable', async () => {
    const s = createScheduler({
      pipeline: 'report',
      options: scheduleOptions.parse({ every: '1m' }),
      logger: silentLogger,
      redisUrl: 'redis://:secret@127.0.0.1:1',
      connectTimeoutMs: 500,
    });
    await expect(s.start(() => Promise.resolve(ok()))).rejects.toThrow(
      /^schedule of report: Redis at redis:\/\/.*127\.0\.0\.1:1 is not reachable: timed out after 500 ms$/,
    );
    await expect(s.start(() => Promise.resolve(ok()))).rejects.not.toThrow(/secret/);
    expect(s.status().next).toBeUndefined();
  });
});

/** Makes the hourly tick job due now, as if its hour had come (BullMQ's own promote). */
async function forceDue(prefix: string): Promise<void> {
  const { Queue } = await import('bullmq');
  const q = new Queue('passerelle-schedule.report', { connection: { url: redis.url }, prefix });
  try {
    await waitFor(async () => (await q.getDelayed()).length > 0, 10_000, 'the delayed tick job');
    for (const job of await q.getDelayed()) await job.promote();
  } finally {
    await q.close();
  }
}
