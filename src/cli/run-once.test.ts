import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinRegistry, type Registry } from '../registry/index.js';
import { RUN_META_KEY } from '../sdk/index.js';
import {
  rejectOddTransform,
  tickSource,
  type TickSourceProbe,
} from '../engine/schedule/tick-source.fixture.js';
import { main } from './main.js';
import { parseWindow, type RunManifest } from './commands/run-once.js';

/*
 * `passerelle run --once` in process, with a test source that can be read on a tick (the child
 * process test against the built CLI is in test/schedule/run-once.e2e.test.ts).
 */

const probe: TickSourceProbe = { events: [], runs: [] };
const registry: Registry = {
  ...builtinRegistry,
  sources: [...builtinRegistry.sources, tickSource(probe)],
  transforms: [...builtinRegistry.transforms, rejectOddTransform],
};

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'passerelle-once-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, {
    registry,
    env: { PASSERELLE_LOG_LEVEL: 'error' },
    stdout: (s) => (out += s),
    stderr: (s) => (err += s),
  });
  return { code, out, err };
}

function write(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

describe('passerelle run --once', () => {
  it('runs one tick over --window (in the schedule time zone), prints the manifest and exits 0', async () => {
    const out = join(dir, 'daily.jsonl');
    const file = write('daily.yaml', [
      'name: daily',
      "schedule: { cron: '0 6 * * *', timeZone: Europe/Paris, window: { previous: day } }",
      'source: { type: tick-test, rows: 6 }',
      'transforms: [{ type: reject-odd }]',
      'sinks:',
      `  - { type: log, output: ${out} }`,
    ]);
    const {
      code,
      out: stdout,
      err,
    } = await cli(['run', '--once', file, '--window', '2026-12-04T00:00/2026-12-05T00:00']);
    expect(err).toBe('');
    expect(code).toBe(0);
    const manifest = JSON.parse(stdout) as RunManifest;
    // Midnight to midnight in Paris (UTC+1 in December).
    expect(manifest).toMatchObject({
      pipeline: 'daily',
      run: 'daily@2026-12-04T23:00:00.000Z',
      window: { start: '2026-12-03T23:00:00.000Z', end: '2026-12-04T23:00:00.000Z' },
      read: 6,
      rows: { log: 3 },
      outputs: {},
      deadLettered: 3,
      deadLetters: [{ stage: 'transforms[0]', reason: 'odd value', count: 3 }],
    });
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(lines[0].meta[RUN_META_KEY].id).toBe('daily@2026-12-04T23:00:00.000Z');
    expect(probe.runs.at(-1)).toMatchObject({ attempt: 1, timeZone: 'Europe/Paris' });
  });

  it('without --window runs the window of a tick now', async () => {
    const out = join(dir, 'hourly.jsonl');
    const file = write('hourly.yaml', [
      'name: hourly',
      'schedule: { every: 1h, window: { last: 15m } }',
      'source: { type: tick-test, rows: 2 }',
      'sinks:',
      `  - { type: log, output: ${out} }`,
    ]);
    const before = Date.now();
    const { code, out: stdout } = await cli(['run', '--once', file]);
    expect(code).toBe(0);
    const manifest = JSON.parse(stdout) as RunManifest;
    const start = Date.parse(manifest.window.start);
    const end = Date.parse(manifest.window.end);
    expect(end - start).toBe(15 * 60_000);
    expect(end).toBeGreaterThanOrEqual(before);
    expect(manifest.rows).toEqual({ log: 2 });
  });

  it('picks the pipeline with --pipeline, and says which exist when the paths hold several', async () => {
    const a = write('multi-a.yaml', [
      'name: multi-a',
      'schedule: { every: 1h }',
      'source: { type: tick-test, rows: 1 }',
      'sinks: [{ type: log, output: ' + join(dir, 'a.jsonl') + ' }]',
    ]);
    const b = write('multi-b.yaml', [
      'name: multi-b',
      'schedule: { every: 1h }',
      'source: { type: tick-test, rows: 2 }',
      'sinks: [{ type: log, output: ' + join(dir, 'b.jsonl') + ' }]',
    ]);
    const none = await cli(['run', '--once', a, b]);
    expect(none.code).not.toBe(0);
    expect(none.err).toContain('2 pipelines found (multi-a, multi-b): choose one with --pipeline <name>');
    const picked = await cli(['run', '--once', a, b, '--pipeline', 'multi-b']);
    expect(picked.code).toBe(0);
    expect((JSON.parse(picked.out) as RunManifest).read).toBe(2);
    const wrong = await cli(['run', '--once', a, b, '--pipeline', 'nope']);
    expect(wrong.err).toContain('--pipeline nope: no such pipeline (found: multi-a, multi-b)');
  });

  it('refuses a pipeline without a schedule with a clear error', async () => {
    const file = write('stream.yaml', [
      'name: stream',
      'source: { type: simulator }',
      'sinks: [{ type: log }]',
    ]);
    const { code, out, err } = await cli(['run', '--once', file]);
    expect(code).not.toBe(0);
    expect(out).toBe('');
    expect(err).toContain('pipeline stream has no schedule: --once runs one tick of a scheduled pipeline');
  });

  it('exits non-zero with a readable error when the run can not complete', async () => {
    const file = write('broken.yaml', [
      'name: broken',
      'schedule: { every: 1h }',
      'source: { type: tick-test, rows: 2 }',
      'sinks:',
      // A folder is not a file the log sink can append to.
      `  - { type: log, output: ${dir}, retry: { attempts: 2, initialDelay: 10ms, maxDelay: 20ms } }`,
    ]);
    const { code, out, err } = await cli([
      'run',
      '--once',
      file,
      '--window',
      '2026-12-04T00:00Z/2026-12-04T01:00Z',
    ]);
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toMatch(/^passerelle run --once: pipeline broken, run broken@2026-12-04T01:00:00.000Z: /);
    expect(err).toMatch(/sink log/);
  });

  it('--pipeline and --window need --once; --window is checked', async () => {
    expect((await cli(['run', 'x.yaml', '--window', 'a/b'])).err).toContain(
      '--pipeline and --window go with --once',
    );
    expect(() => parseWindow('2026-12-04', 'UTC')).toThrow('--window: expected <start>/<end> in ISO 8601');
    expect(() => parseWindow('2026-12-05/2026-12-04', 'UTC')).toThrow('the start must be before the end');
    expect(() => parseWindow('yesterday/2026-12-04', 'UTC')).toThrow(
      'the start "yesterday" is not an ISO 8601 date-time',
    );
    expect(parseWindow('2026-12-04T00:00+01:00/2026-12-04T01:00Z', 'America/New_York')).toEqual({
      start: Date.UTC(2026, 11, 3, 23),
      end: Date.UTC(2026, 11, 4, 1),
    });
  });
});
