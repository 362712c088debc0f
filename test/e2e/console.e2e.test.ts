/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The status page and dead-letter console in a real headless browser (Debian's chromium driven by
 * playwright-core, no browser download). Screenshots go to test-artifacts/.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPipelinesOrThrow, loadPipelineTexts } from '../../src/config/index.js';
import { createOutboxBackend } from '../../src/outbox/index.js';
import { builtinRegistry } from '../../src/registry/index.js';
import { toPlan } from '../../src/runtime/plan.js';
import { ConfigReloader } from '../../src/runtime/reload.js';
import { Service } from '../../src/runtime/service.js';
import { silentLogger } from '../../src/sdk/index.js';
import { waitFor } from '../conformance/context.js';

const CHROMIUM = process.env.PASSERELLE_CHROMIUM ?? '/usr/bin/chromium';
const TOKEN = 'console-test-token-0123456789';
const artifacts = new URL('../../test-artifacts/', import.meta.url).pathname;
/**
 * The screenshots in docs/monitoring.md: refreshed there only with PASSERELLE_REFRESH_SCREENSHOTS=1,
 * so that running the tests leaves the checkout clean (a bench refuses to write on a dirty one).
 */
const images = process.env.PASSERELLE_REFRESH_SCREENSHOTS
  ? new URL('../../docs/images/', import.meta.url).pathname
  : join(artifacts, 'screenshots');
const tmp = mkdtempSync(join(tmpdir(), 'passerelle-console-'));

let service: Service;
let reloader: ConfigReloader;
let configFile: string;
let configText: string;
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
    expression: '($assert(payload.device != "sim-003", "sim-003 is not commissioned: unknown device; add it to the asset register (plant/line-3/devices.yaml) before it sends data"); $merge([payload, {"note": "<img src=x onerror=\\"window.__xss=1\\">"}]))'
sinks:
  - type: log
    output: ${join(tmp, 'out.jsonl')}
`;
  configText = text;
  configFile = join(tmp, 'console.yaml');
  writeFileSync(configFile, text);
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
    identity: 'replica-a',
  });
  await service.start();
  // Wired as `passerelle run` wires it (src/cli/commands/run.ts).
  reloader = new ConfigReloader({
    paths: [configFile],
    load: async () =>
      Promise.all(
        (await loadPipelinesOrThrow([configFile], builtinRegistry, { env: {} })).map((p) =>
          toPlan(p, builtinRegistry),
        ),
      ),
    apply: (next) => service.applyPlans(next),
    onResult: (result) => service.recordReload(result),
    logger: silentLogger,
    registry: service.metrics.registry,
    watch: false,
    sighup: false,
  });
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
  await reloader?.stop();
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

/**
 * What an operator sees must fit: nothing sticks out of the viewport, nothing is cut off by a
 * parent that hides overflow, no text is truncated where it must be read in full. Runs in the
 * page; returns one line per problem.
 */
function layoutProblems(selectors: { css: string; full?: boolean }[]): string[] {
  const problems: string[] = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth)
    problems.push(`the page scrolls sideways (${root.scrollWidth} > ${root.clientWidth})`);
  const vw = root.clientWidth;
  for (const { css, full } of selectors) {
    const nodes = [...document.querySelectorAll(css)];
    if (nodes.length === 0) problems.push(`${css}: not on the page`);
    for (const node of nodes) {
      const r = node.getBoundingClientRect();
      if (r.width < 1 || r.height < 1) {
        problems.push(`${css}: not visible (${r.width}x${r.height})`);
        continue;
      }
      if (r.left < -0.5 || r.right > vw + 0.5)
        problems.push(
          `${css}: outside the viewport (${Math.round(r.left)}..${Math.round(r.right)} of ${vw})`,
        );
      if (full && (node.scrollWidth > node.clientWidth + 1 || node.scrollHeight > node.clientHeight + 1))
        problems.push(`${css}: text cut off (${node.scrollWidth} > ${node.clientWidth})`);
      // Within its box (a pipeline card, the dead letters, the header), not only within the page.
      const box = node.parentElement?.closest('.card, #dead-letters, header, .health');
      if (box) {
        const b = box.getBoundingClientRect();
        if (r.left < b.left - 0.5 || r.right > b.right + 0.5)
          problems.push(`${css}: sticks out of ${box.tagName.toLowerCase()}#${box.id}`);
      }
      for (let p = node.parentElement; p; p = p.parentElement) {
        const style = getComputedStyle(p);
        if (style.overflowX === 'visible' && style.overflowY === 'visible') continue;
        const box = p.getBoundingClientRect();
        if (r.left < box.left - 0.5 || r.right > box.right + 0.5) {
          problems.push(`${css}: cut off by ${p.tagName.toLowerCase()}.${p.className}`);
          break;
        }
      }
    }
  }
  return problems;
}

const CHECKED = [
  { css: '#pipeline-line-3-sensors .chart canvas' },
  { css: '#pipeline-line-3-sensors .u-legend' },
  { css: '#pipeline-line-3-sensors .u-legend th', full: true },
  { css: '#pipeline-line-3-sensors [data-series]' },
  { css: '#pipeline-line-3-sensors table.components' },
  { css: '#dlq-filter button' },
  { css: '#dlq-table tbody tr:first-child td.reason', full: true },
  { css: '#dlq-table tbody tr:first-child td.time', full: true },
  { css: 'header .token input' },
  { css: '#health > span' },
  { css: '#pipeline-line-3-sensors .current tbody tr:first-child td', full: false },
  { css: '#pipeline-line-3-sensors .scope' },
];

describe.each([
  { width: 1400, name: '1400' },
  { width: 820, name: '820' },
  { width: 390, name: 'phone' },
])('the status page at $width px', ({ width, name }) => {
  it('shows every part within the viewport, nothing cut off, the chart drawn', async () => {
    const view = await browser.newPage({ viewport: { width, height: 1000 } });
    try {
      await view.goto(`${service.url}/`);
      await view.locator('#pipeline-line-3-sensors').waitFor({ timeout: 15_000 });
      await waitFor(
        async () => (await view.locator('#dlq-table tbody tr').count()) > 0,
        'dead letters listed',
      );
      await waitFor(
        async () => (await view.locator('#pipeline-line-3-sensors .current tbody tr').count()) >= 2,
        'current values listed',
      );
      await waitFor(
        async () => (await view.evaluate(layoutProblems, CHECKED)).length === 0,
        'a layout without problems',
        10_000,
      ).catch(async () => {
        expect(await view.evaluate(layoutProblems, CHECKED)).toEqual([]);
      });
      const chart = await view.locator('#pipeline-line-3-sensors .chart canvas').boundingBox();
      expect(chart!.width).toBeGreaterThan(Math.min(300, width - 80));
      expect(chart!.height).toBeGreaterThan(100);
      await view.screenshot({ path: join(images, `status-page-${name}.png`), fullPage: true });
      if (width === 1400) {
        await view.screenshot({ path: join(images, 'status-page.png') });
        await view.locator('#dead-letters').screenshot({ path: join(images, 'dead-letter-console.png') });
      }
    } finally {
      await view.close();
    }
  }, 60_000);
});

describe('what the status page says', () => {
  it('writes every time one way: local time with its offset, the ISO form on hover', async () => {
    // Newfoundland: an offset with minutes, so a page that drops or rounds it fails.
    const context = await browser.newContext({
      viewport: { width: 1400, height: 1000 },
      timezoneId: 'America/St_Johns',
    });
    const view = await context.newPage();
    try {
      await view.goto(`${service.url}/`);
      await waitFor(
        async () => (await view.locator('#dlq-table tbody tr').count()) > 0,
        'dead letters listed',
      );
      await waitFor(
        async () => (await view.locator('.current tbody tr').count()) >= 2,
        'current values listed',
      );
      const times = await view.$$eval('time', (nodes) =>
        nodes.map((n) => ({
          text: n.textContent ?? '',
          title: n.getAttribute('title') ?? '',
          where: n.parentElement?.className ?? '',
        })),
      );
      // Health banner, counters' scope, current values, last messages, dead letters.
      expect(times.length).toBeGreaterThan(8);
      for (const t of times) {
        expect(t.text, t.where).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d -03:30$/);
        expect(t.title, t.where).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        const local = Date.parse(t.text.replace(' ', 'T').replace(' ', ''));
        expect(Math.abs(local - Date.parse(t.title)), t.text).toBeLessThan(1000);
      }
      // No other date format left anywhere on the page (locale dates, raw ISO).
      const text = await view.locator('body').innerText();
      expect(text).not.toMatch(/\d{1,2}\/\d{1,2}\/\d{2,4}/);
      expect(text).not.toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d/);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('shows the health banner, and a failed configuration reload until the file is valid again', async () => {
    const view = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    try {
      await view.goto(`${service.url}/`);
      const reload = view.locator('#health-reload');
      await waitFor(
        async () => (await reload.textContent()) === 'Configuration as started',
        'the initial state',
      );
      expect(await view.locator('#health-uptime').textContent()).toMatch(/^Up \d+ (s|min \d+ s), since /);
      expect(await view.textContent('#health-redis')).toContain('No Redis: memory outbox');
      expect(await view.getAttribute('#health-redis', 'data-state')).toBe('warn');
      expect(await view.textContent('#health-replica')).toBe('Replica replica-a');

      writeFileSync(configFile, configText.replace('rate: 40', 'rate: [40'));
      expect((await reloader.reload('test')).result).toBe('refused');
      await waitFor(async () => (await reload.getAttribute('data-state')) === 'bad', 'the failure shown');
      const failed = (await reload.textContent())!;
      expect(failed).toMatch(
        /^Configuration reload failed at \d{4}-.*: .+\. The pipelines run on with the previous configuration/s,
      );
      expect(failed).toContain('console.yaml');
      await view.screenshot({ path: join(artifacts, 'console-reload-failed.png') });

      writeFileSync(configFile, configText);
      expect((await reloader.reload('test')).result).toBe('unchanged');
      await waitFor(async () => (await reload.getAttribute('data-state')) === 'ok', 'the recovery shown');
      expect(await reload.textContent()).toMatch(/^Configuration valid again since \d{4}-/);
    } finally {
      await view.close();
    }
  }, 60_000);

  it('shows the current value of each key, pretty-printed, escaped, with age and rate', async () => {
    const view = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    try {
      await view.goto(`${service.url}/`);
      const rows = view.locator('#pipeline-line-3-sensors .current tbody tr');
      await waitFor(async () => (await rows.count()) === 2, 'two keys (sim-003 is dead-lettered before)');
      expect(await rows.evaluateAll((r) => r.map((x) => (x as HTMLElement).dataset.key))).toEqual([
        'sim-001',
        'sim-002',
      ]);
      const first = rows.first();
      const value = (await first.locator('pre').textContent())!;
      expect(value).toContain('\n  "device": "sim-001",\n');
      // Message data is text: the hostile value shows as written and runs nothing.
      expect(value).toContain('"note": "<img src=x onerror=\\"window.__xss=1\\">"');
      expect(await view.locator('#pipelines img').count()).toBe(0);
      expect(await view.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
      expect(
        await first
          .locator('td')
          .nth(1 + 1)
          .textContent(),
      ).toBe('—'); // no quality from a simulator
      expect(await first.locator('td.age div').textContent()).toMatch(/^\d+ s ago$/);
      // 40 msg/s over three devices, one of them dead-lettered: about 13/s each.
      const rate = Number((await first.locator('td').nth(4).textContent())!.replace('/s', ''));
      expect(rate).toBeGreaterThan(3);
      expect(rate).toBeLessThan(40);
      expect(await view.textContent('#pipeline-line-3-sensors')).toContain('at most 200 per pipeline');
      // The counters say whose they are: a replica that delivers what another received is not broken.
      expect(await view.textContent('#pipeline-line-3-sensors .scope')).toMatch(
        /^Counted by this replica \(replica-a\) since its start/,
      );
    } finally {
      await view.close();
    }
  }, 60_000);

  it('says why replay and purge are disabled', async () => {
    const view = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const other = new Service({
      plans: [],
      backend: await createOutboxBackend({ retention: { maxAgeMs: 60_000, maxCount: 10 } }),
      logger: silentLogger,
      http: { host: '127.0.0.1', port: 0 },
      version: 'test',
    });
    try {
      await view.goto(`${service.url}/`);
      await waitFor(
        async () => (await view.locator('#dlq-table tbody tr').count()) > 0,
        'dead letters listed',
      );
      expect(await view.isDisabled('#dlq-replay')).toBe(true);
      expect(await view.getAttribute('#dlq-replay', 'title')).toContain('Select dead letters');
      expect(await view.getAttribute('#dlq-purge', 'title')).toContain('Select dead letters');
      expect(await view.locator('#dlq-hint').isVisible()).toBe(true);
      await view.locator('#dlq-table tbody tr').first().locator('input[type=checkbox]').check();
      expect(await view.isDisabled('#dlq-replay')).toBe(false);
      expect(await view.textContent('#dlq-hint')).toContain('Type the admin token');

      // A service started without an admin token: the actions are off, and the page says how to turn them on.
      await other.start();
      await view.goto(`${other.url}/`);
      await waitFor(
        async () => ((await view.getAttribute('#dlq-replay', 'title')) ?? '').includes('admin token'),
        'the reason shown',
      );
      expect(await view.getAttribute('#dlq-replay', 'title')).toContain('PASSERELLE_ADMIN_TOKEN');
      expect(await view.textContent('#dlq-hint')).toContain('start passerelle with an admin token');
    } finally {
      await view.close();
      await other.stop();
    }
  }, 60_000);
});
