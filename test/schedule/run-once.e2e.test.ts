/**
 * `passerelle run --once` as a child process: the built CLI's main() with the built-in registry plus
 * a test source readable on a tick (no built-in one is on this branch yet), so exit codes, stdout
 * (the manifest only) and stderr are the real ones.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../e2e/service-process.js';

const ROOT = resolve(import.meta.dirname, '../..');
const dist = (p: string): string => join(ROOT, 'dist', p);
const SCRIPT = `
import { main } from ${JSON.stringify(dist('src/cli/main.js'))};
import { builtinRegistry } from ${JSON.stringify(dist('src/registry/index.js'))};
import { tickSource } from ${JSON.stringify(dist('src/engine/schedule/tick-source.fixture.js'))};
const registry = { ...builtinRegistry, sources: [...builtinRegistry.sources, tickSource()] };
process.exitCode = await main(process.argv.slice(1), { registry });
`;

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT, ...args], {
      env: { ...process.env, PASSERELLE_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => done({ code, out, err }));
  });
}

const tmp = tempDir('run-once');
afterAll(() => tmp.remove());

describe('passerelle run --once (child process)', () => {
  it('needs the build', () => {
    expect(existsSync(dist('src/engine/schedule/tick-source.fixture.js')), 'run npm run build').toBe(true);
  });

  it('runs the tick, prints only the manifest on stdout and exits 0', async () => {
    const out = join(tmp.dir, 'rows.jsonl');
    const file = tmp.write(
      'hourly.yaml',
      [
        'name: hourly',
        'schedule: { every: 1h }',
        'source: { type: tick-test, rows: 4 }',
        `sinks: [{ type: log, output: ${out} }]`,
        '',
      ].join('\n'),
    );
    const {
      code,
      out: stdout,
      err,
    } = await cli(['run', '--once', file, '--window', '2026-12-04T05:00Z/2026-12-04T06:00Z']);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      pipeline: 'hourly',
      run: 'hourly@2026-12-04T06:00:00.000Z',
      window: { start: '2026-12-04T05:00:00.000Z', end: '2026-12-04T06:00:00.000Z' },
      read: 4,
      rows: { log: 4 },
      deadLettered: 0,
    });
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(4);
  });

  it('exits non-zero with a readable error for a pipeline without a schedule, and for a run that fails', async () => {
    const stream = tmp.write(
      'stream.yaml',
      'name: stream\nsource: { type: simulator }\nsinks: [{ type: log }]\n',
    );
    const refused = await cli(['run', '--once', stream]);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toBe('');
    expect(refused.err).toContain('pipeline stream has no schedule');
    const broken = tmp.write(
      'broken.yaml',
      [
        'name: broken',
        'schedule: { every: 1h }',
        'source: { type: tick-test }',
        `sinks: [{ type: log, output: ${tmp.dir} }]`,
        '',
      ].join('\n'),
    );
    const failed = await cli(['run', '--once', broken, '--window', '2026-12-04T05:00Z/2026-12-04T06:00Z']);
    expect(failed.code).toBe(1);
    expect(failed.out).toBe('');
    expect(failed.err).toContain(
      'passerelle run --once: pipeline broken, run broken@2026-12-04T06:00:00.000Z: sink log',
    );
  });
});
