/**
 * Two replicas on one Redis: each counts what it handled itself; the status page of either shows
 * both, their sum, and the newest current value per key (Debian's chromium via playwright-core).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPipelineTexts } from '../../src/config/index.js';
import { createOutboxBackend } from '../../src/outbox/index.js';
import { builtinRegistry } from '../../src/registry/index.js';
import { toPlan } from '../../src/runtime/plan.js';
import { Service } from '../../src/runtime/service.js';
import { silentLogger } from '../../src/sdk/index.js';
import { waitFor } from '../conformance/context.js';
import { startRedis, type ServiceHandle } from '../harness/services.js';

const CHROMIUM = process.env.PASSERELLE_CHROMIUM ?? '/usr/bin/chromium';
const artifacts = new URL('../../test-artifacts/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'passerelle-replicas-'));

let redis: ServiceHandle;
const services: Service[] = [];
let browser: Browser;

interface Overview {
  replica: string;
  pipelines: { name: string; rates: { totals: Record<string, number> } }[];
  replicas?: {
    replica: string;
    time: number;
    pipelines: Record<string, { totals: Record<string, number>; current: { key: string }[] }>;
  }[];
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium`);
  mkdirSync(artifacts, { recursive: true });
  redis = await startRedis();
  for (const [replica, devices] of [
    ['replica-a', 2],
    ['replica-b', 3],
  ] as const) {
    // Each replica simulates its own devices (sim-00N), so each one's counters differ.
    const text = `name: shared
source: { type: simulator, rate: ${replica === 'replica-a' ? 20 : 10}, devices: ${devices}, seed: 3, maxBatch: 5 }
sinks:
  - type: log
    output: ${join(tmp, `${replica}.jsonl`)}
`;
    const { pipelines, issues } = loadPipelineTexts([{ file: 'shared.yaml', text }], builtinRegistry, {
      env: {},
    });
    expect(issues).toEqual([]);
    const service = new Service({
      plans: await Promise.all(pipelines.map((p) => toPlan(p, builtinRegistry))),
      backend: await createOutboxBackend({
        redisUrl: redis.url,
        retention: { maxAgeMs: 60_000, maxCount: 100 },
      }),
      logger: silentLogger,
      http: { host: '127.0.0.1', port: 0 },
      redisUrl: redis.url,
      identity: replica,
      replicaShareMs: 500,
      version: 'test',
    });
    await service.start();
    services.push(service);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(services.map((s) => s.stop()));
  await redis?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const overview = async (service: Service): Promise<Overview> =>
  (await (await fetch(`${service.url}/api/overview`)).json()) as Overview;

describe('the status page with two replicas on one Redis', () => {
  it('lists both replicas in either one, with their own counters', async () => {
    await waitFor(
      async () => {
        const o = await overview(services[1]!);
        return (o.replicas ?? []).map((r) => r.replica).join() === 'replica-a,replica-b';
      },
      'both replicas listed by replica-b',
      20_000,
    );
    await waitFor(
      async () =>
        (await overview(services[0]!)).replicas!.every((r) => r.pipelines.shared!.totals.received! > 10),
      'both counting',
      20_000,
    );
    const o = await overview(services[0]!);
    expect(o.replica).toBe('replica-a');
    const [a, b] = o.replicas!;
    // This replica's own figures are fresh; the other's come from Redis.
    expect(a!.pipelines.shared!.totals.received).toBeGreaterThan(0);
    expect(b!.pipelines.shared!.current.map((v) => v.key).sort()).toEqual(['sim-001', 'sim-002', 'sim-003']);
    expect(a!.pipelines.shared!.current.map((v) => v.key).sort()).toEqual(['sim-001', 'sim-002']);
  }, 60_000);

  it('shows every replica, their sum, and the newest value of each key from any replica', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    try {
      await page.goto(`${services[0]!.url}/`);
      const rows = page.locator('#pipeline-shared table.replicas tbody tr');
      await waitFor(async () => (await rows.count()) === 3, 'two replicas and the sum', 20_000);
      const table = await rows.evaluateAll((trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
      );
      expect(table.map((r) => r[0])).toEqual(['replica-a (this page)', 'replica-b', 'all 2 replicas']);
      for (let column = 1; column <= 5; column++)
        expect(Number(table[2]![column])).toBe(Number(table[0]![column]) + Number(table[1]![column]));
      // sim-003 only exists on replica-b: this page shows it, and says where it comes from.
      const sim3 = page.locator('#pipeline-shared .current tbody tr[data-key="sim-003"]');
      await sim3.waitFor({ timeout: 10_000 });
      expect(await sim3.textContent()).toContain('via replica-b');
      expect(await page.textContent('#pipeline-shared .scope')).toContain('each replica counts its own');
      await page.screenshot({ path: join(artifacts, 'console-replicas.png'), fullPage: true });
    } finally {
      await page.close();
    }
  }, 60_000);

  it('drops a stopped replica from the list', async () => {
    await services[1]!.stop();
    await waitFor(
      async () => (await overview(services[0]!)).replicas!.map((r) => r.replica).join() === 'replica-a',
      'replica-b gone after its snapshot expired',
      20_000,
    );
  }, 60_000);
});
