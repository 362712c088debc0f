/// <reference lib="dom" />
/**
 * The status page shows each schedule (next tick, last tick and its window, duration, rows,
 * outcome) in a real headless Chromium, with the real in-process scheduler ticking every second.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPipelineTexts } from '../../src/config/index.js';
import { createOutboxBackend } from '../../src/outbox/index.js';
import { builtinRegistry, type Registry } from '../../src/registry/index.js';
import { toPlan } from '../../src/runtime/plan.js';
import { Service } from '../../src/runtime/service.js';
import { silentLogger } from '../../src/sdk/index.js';
import { tickSource } from '../../src/engine/schedule/tick-source.fixture.js';
import type { ScheduleStatus } from '../../src/engine/schedule/types.js';
import { waitFor } from '../conformance/context.js';

const CHROMIUM = process.env.PASSERELLE_CHROMIUM ?? '/usr/bin/chromium';
const tmp = mkdtempSync(join(tmpdir(), 'passerelle-console-schedule-'));
const registry: Registry = { ...builtinRegistry, sources: [...builtinRegistry.sources, tickSource()] };

let service: Service;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium or set PASSERELLE_CHROMIUM`);
  const text = [
    'name: every-second',
    'schedule: { every: 1s }',
    'source: { type: tick-test, rows: 3 }',
    `sinks: [{ type: log, output: ${join(tmp, 'out.jsonl')} }]`,
    '---',
    'name: failing',
    'schedule: { every: 1s, retry: { attempts: 1 } }',
    'source: { type: tick-test, rows: 2 }',
    // The log sink can not append to a folder: every run fails.
    `sinks: [{ type: log, output: ${join(tmp, 'missing', 'out.jsonl')}, retry: { attempts: 1 } }]`,
    '',
  ].join('\n');
  const { pipelines, issues } = loadPipelineTexts([{ file: 'schedule.yaml', text }], registry, { env: {} });
  expect(issues).toEqual([]);
  const backend = await createOutboxBackend({ retention: { maxAgeMs: 3_600_000, maxCount: 1000 } });
  service = new Service({
    plans: await Promise.all(pipelines.map((p) => toPlan(p, registry))),
    backend,
    logger: silentLogger,
    http: { host: '127.0.0.1', port: 0 },
    version: 'test',
  });
  await service.start();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await service?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function schedule(name: string): Promise<ScheduleStatus | undefined> {
  const body = (await (await fetch(`${service.url}/status`)).json()) as {
    pipelines: { name: string; schedule?: ScheduleStatus }[];
  };
  return body.pipelines.find((p) => p.name === name)?.schedule;
}

describe('status page: schedules', () => {
  it('/status and the page show next tick, last tick, window, duration, rows and outcome', async () => {
    const done = await waitFor(
      async () => {
        const s = await schedule('every-second');
        return s?.last?.outcome === 'completed' ? s : undefined;
      },
      'a completed run',
      30_000,
    );
    expect(done).toMatchObject({ description: 'every 1s', store: 'process', last: { rows: 3 } });
    expect(done!.next).toBeGreaterThan(done!.last!.scheduledAt);
    await page.goto(`${service.url}/`);
    const card = page.locator('#pipeline-every-second');
    await card.locator('table.schedule [data-field=outcome] .badge.completed').waitFor({ timeout: 15_000 });
    expect(await card.locator('table.schedule').isVisible()).toBe(true);
    expect(await card.locator('[data-field=schedule] td').textContent()).toBe(
      'every 1s · ticks kept in this process',
    );
    expect(await card.locator('[data-field=rows] td').textContent()).toBe('3');
    expect(await card.locator('[data-field=next-tick] time').count()).toBe(1);
    expect(await card.locator('[data-field=window] time').count()).toBe(2);
    expect(await card.locator('[data-field=duration] td').textContent()).toMatch(/^\d+ s$/);
  });

  it('a failing schedule shows its outcome and error', async () => {
    await waitFor(
      async () => (await schedule('failing'))?.last?.outcome === 'failed',
      'a failed run',
      30_000,
    );
    await page.goto(`${service.url}/`);
    const card = page.locator('#pipeline-failing');
    await card.locator('[data-field=outcome] .badge.failed').waitFor({ timeout: 15_000 });
    expect(await card.locator('[data-field=outcome] .error').textContent()).toContain('sink log');
    await page.screenshot({ path: join(tmp, 'schedule.png'), fullPage: true });
  });
});
