import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadPipelineTexts } from '../../src/config/index.js';
import { createMemoryBackend } from '../../src/outbox/index.js';
import { builtinRegistry, type Registry } from '../../src/registry/index.js';
import { silentLogger } from '../../src/sdk/index.js';
import { toPlan } from '../../src/runtime/plan.js';
import { Service } from '../../src/runtime/service.js';
import type { PipelinePlan } from '../../src/engine/plan.js';
import { scheduleQueueName } from '../../src/engine/schedule/redis.js';
import { tickSource } from '../../src/engine/schedule/tick-source.fixture.js';
import { startRedis, type ServiceHandle } from '../harness/services.js';
import { waitFor } from '../conformance/context.js';

/*
 * A configuration reload against a real Redis: a scheduled pipeline that is removed, loses its
 * `schedule`, or changes it, must not leave its job scheduler (and its next tick job) behind in
 * Redis, where it would keep adding ticks for other replicas and count stale missed ticks when a
 * pipeline of that name comes back.
 */

let redis: ServiceHandle;
let probe: Redis;
let dir: string;
const registry: Registry = {
  ...builtinRegistry,
  sources: [...builtinRegistry.sources, tickSource()],
};
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  redis = await startRedis();
  probe = new Redis(redis.url);
  dir = mkdtempSync(join(tmpdir(), 'passerelle-schedule-reload-'));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await probe.flushall();
});
afterAll(async () => {
  probe?.disconnect();
  await redis?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function plansOf(...yamls: string[]): Promise<PipelinePlan[]> {
  const loaded = loadPipelineTexts(
    yamls.map((text, i) => ({ file: `p${i}.yaml`, text })),
    registry,
  );
  expect(loaded.issues).toEqual([]);
  return Promise.all(loaded.pipelines.map((p) => toPlan(p, registry)));
}

function scheduled(name: string, every: string): string {
  return [
    `name: ${name}`,
    `schedule: { every: ${every} }`,
    'source: { type: tick-test, rows: 1 }',
    'sinks:',
    `  - { type: log, output: ${join(dir, `${name}.jsonl`)} }`,
    '',
  ].join('\n');
}

function streaming(name: string): string {
  return [
    `name: ${name}`,
    'source: { type: simulator, rate: 1 }',
    'sinks:',
    `  - { type: log, output: ${join(dir, `${name}.jsonl`)} }`,
    '',
  ].join('\n');
}

async function startService(plans: PipelinePlan[]): Promise<Service> {
  const backend = createMemoryBackend({ maxAgeMs: 60_000, maxCount: 100 }, { logger: silentLogger });
  const service = new Service({ plans, backend, logger: silentLogger, redisUrl: redis.url });
  await service.start();
  cleanups.push(() => service.stop());
  return service;
}

/** The pipeline's job scheduler as stored in Redis (undefined when there is none). */
async function jobScheduler(pipeline: string) {
  const queue = new Queue(scheduleQueueName(pipeline), {
    connection: { url: redis.url },
    prefix: 'passerelle',
  });
  try {
    const scheduler = await queue.getJobScheduler('tick');
    const delayed = await queue.getDelayed();
    return scheduler ? { every: scheduler.every, delayed: delayed.map((j) => j.id) } : undefined;
  } finally {
    await queue.close();
  }
}

/** Every key the pipeline's schedule has in Redis (its queue's and its status hash). */
async function keysOf(pipeline: string): Promise<string[]> {
  return [
    ...(await probe.keys(`passerelle:${scheduleQueueName(pipeline)}:*`)),
    ...(await probe.keys(`passerelle:schedule:${pipeline}`)),
  ].sort();
}

describe('configuration reload of scheduled pipelines (Redis)', () => {
  it('a removed scheduled pipeline leaves no job scheduler, tick job or status in Redis', async () => {
    const service = await startService(await plansOf(scheduled('gone', '1h'), scheduled('kept', '1h')));
    await waitFor(async () => (await jobScheduler('gone'))?.delayed.length === 1, 'gone scheduled');
    await waitFor(async () => (await jobScheduler('kept'))?.delayed.length === 1, 'kept scheduled');

    const summary = await service.applyPlans(await plansOf(scheduled('kept', '1h')));
    expect(summary).toMatchObject({ removed: ['gone'], unchanged: ['kept'] });

    expect(await jobScheduler('gone')).toBeUndefined();
    // No delayed job, no job scheduler, no status hash: a `gone` added back later starts afresh.
    expect(
      (await keysOf('gone')).filter((k) => /:(repeat|delayed|wait|schedule:)/.test(k) || k.endsWith(':gone')),
    ).toEqual([]);
    // The one kept is untouched.
    expect(await jobScheduler('kept')).toMatchObject({ every: 3_600_000 });
  });

  it('a pipeline that loses its schedule (now streaming) leaves no job scheduler in Redis', async () => {
    const service = await startService(await plansOf(scheduled('report', '1h')));
    await waitFor(async () => (await jobScheduler('report'))?.delayed.length === 1, 'report scheduled');

    const summary = await service.applyPlans(await plansOf(streaming('report')));
    expect(summary).toMatchObject({ changed: ['report'] });

    expect(await jobScheduler('report')).toBeUndefined();
    expect(await probe.exists('passerelle:schedule:report')).toBe(0);
  });

  it('a changed schedule replaces the job scheduler and its tick job (one tick job, the new period)', async () => {
    const service = await startService(await plansOf(scheduled('report', '1h')));
    await waitFor(async () => (await jobScheduler('report'))?.delayed.length === 1, 'report scheduled');

    const summary = await service.applyPlans(await plansOf(scheduled('report', '2h')));
    expect(summary).toMatchObject({ changed: ['report'] });

    const after = await waitFor(async () => {
      const s = await jobScheduler('report');
      return s?.every === 7_200_000 ? s : undefined;
    }, 'the new job scheduler');
    const next = Math.ceil(Date.now() / 7_200_000) * 7_200_000;
    expect(after?.delayed).toEqual([`repeat:tick:${next}`]);
  });
});
