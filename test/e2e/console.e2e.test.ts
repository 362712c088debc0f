/**
 * The status page and dead-letter console in a real headless browser (Debian's chromium driven by
 * playwright-core, no browser download). Screenshots go to test-artifacts/.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPipelineTexts } from '../../src/config/index.js';
import { createOutboxBackend } from '../../src/outbox/index.js';
import { builtinRegistry } from '../../src/registry/index.js';
import { toPlan } from '../../src/runtime/plan.js';
import { Service } from '../../src/runtime/service.js';
import { silentLogger } from '../../src/sdk/index.js';
import { waitFor } from '../conformance/context.js';

const CHROMIUM = process.env.PASSERELLE_CHROMIUM ?? '/usr/bin/chromium';
const TOKEN = 'console-test-token-0123456789';
const artifacts = new URL('../../test-artifacts/', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'passerelle-console-'));

let service: Service;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `no Chromium at ${CHROMIUM}: install Debian's chromium (.ci/run does) or set PASSERELLE_CHROMIUM`,
    );
  mkdirSync(artifacts, { recursive: true });
  const text = `name: line-3-sensors
source: { type: simulator, rate: 40, devices: 3, seed: 7, maxBatch: 10 }
transforms:
  - type: map
    expression: '($assert(payload.device != "sim-003", "sim-003 is not commissioned: unknown device"); payload)'
sinks:
  - type: log
    output: ${join(tmp, 'out.jsonl')}
`;
  const { pipelines, issues } = loadPipelineTexts([{ file: 'console.yaml', text }], builtinRegistry, {
    env: {},
  });
  expect(issues).toEqual([]);
  const backend = await createOutboxBackend({ retention: { maxAgeMs: 3_600_000, maxCount: 1000 } });
  service = new Service({
    plans: await Promise.all(pipelines.map((p) => toPlan(p, builtinRegistry))),
    backend,
    logger: silentLogger,
    http: { host: '127.0.0.1', port: 0 },
    adminToken: TOKEN,
    version: 'test',
  });
  await service.start();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await service?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function api<T>(path: string): Promise<{ status: number; body: T }> {
  const response = await fetch(`${service.url}${path}`);
  return { status: response.status, body: (await response.json()) as T };
}

const received = async (): Promise<number> =>
  Number(await page.locator('#pipeline-line-3-sensors [data-series=received] b').textContent());

describe('status page', () => {
  it('shows the pipeline, its components and live rates that grow as messages flow', async () => {
    await page.goto(`${service.url}/`);
    const card = page.locator('#pipeline-line-3-sensors');
    await card.waitFor({ timeout: 15_000 });
    await waitFor(
      async () => (await card.getAttribute('data-state')) === 'running',
      'pipeline running',
      15_000,
    );
    const components = card.locator('table.components tbody');
    expect(await components.textContent()).toContain('simulator');
    expect(await components.textContent()).toContain('connected');
    await waitFor(async () => (await received()) > 20, 'messages counted on the page', 15_000);
    const first = await received();
    await waitFor(async () => (await received()) > first + 40, 'the counter to grow', 15_000);
    // The chart's series grow: the server samples the counters every 2 s.
    const points = async () =>
      (await api<{ pipelines: { rates: { points: unknown[] } }[] }>('/api/overview')).body.pipelines[0]!.rates
        .points.length;
    await waitFor(async () => (await points()) >= 3, 'three rate samples', 15_000);
    expect(await card.locator('canvas').count()).toBeGreaterThan(0);
    expect(await card.locator('pre').first().textContent()).toContain('sim-00');
    await page.screenshot({ path: join(artifacts, 'console-status.png') });
  }, 60_000);

  it('replays a dead letter with the admin token, and refuses without it', async () => {
    await page.goto(`${service.url}/#dead-letters`);
    const rows = page.locator('#dlq-table tbody tr');
    await waitFor(async () => (await rows.count()) > 0, 'dead letters listed', 20_000);
    expect(await rows.first().textContent()).toContain('sim-003 is not commissioned');
    const id = (await rows.first().getAttribute('data-id'))!;

    await rows.first().locator('input[type=checkbox]').check();
    await page.click('#dlq-replay');
    await waitFor(
      async () => (await page.textContent('#dlq-result'))?.includes('the admin token is missing or wrong'),
      'the refusal shown',
    );
    expect((await api(`/api/dead-letters/${id}`)).status).toBe(200);

    await page.fill('#token', TOKEN);
    await page.dispatchEvent('#token', 'change');
    await waitFor(async () => (await rows.count()) > 0, 'dead letters listed again');
    const row = page.locator(`#dlq-table tbody tr[data-id="${id}"]`);
    await row.locator('input[type=checkbox]').check();
    await page.click('#dlq-replay');
    await waitFor(
      async () => (await page.textContent('#dlq-result'))?.includes('Replay requested for 1'),
      'the replay confirmed',
    );
    // The running pipeline claims the entry and re-injects it: it leaves the dead letters.
    await waitFor(
      async () => (await api(`/api/dead-letters/${id}`)).status === 404,
      'the entry replayed',
      20_000,
    );
    await page.locator('#dead-letters').screenshot({ path: join(artifacts, 'console-dead-letters.png') });
  }, 60_000);
});
