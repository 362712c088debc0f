import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readWithExceljs, tempFolder, xlsxFiles } from './test-support.js';

/**
 * The built sink under `ulimit -n 128` (a child process, `npm run build` first): more distinct file
 * names than descriptors, then every descriptor taken by something else and given back.
 */
const CHILD = resolve(import.meta.dirname, 'descriptors-child.mjs');
const BUILT = resolve(import.meta.dirname, '../../dist/connectors/excel/index.js');
const NAMES = 150;

function runChild(dir: string): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(
      'sh',
      ['-c', `ulimit -n 128 && exec "$0" "$@"`, process.execPath, CHILD, dir, String(NAMES)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', fail);
    child.on('exit', (code) => done({ code, output }));
  });
}

describe('excel sink: file descriptors', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('caps open journals, and recovers from EMFILE without a restart', async () => {
    if (!existsSync(BUILT)) throw new Error('run `npm run build` first: this test runs the built sink');
    const { dir, dispose } = await tempFolder('descriptors');
    cleanups.push(dispose);
    const { code, output } = await runChild(dir);
    expect(code, output.slice(-3000)).toBe(0);
    const lines = output.split('\n');
    // 150 files under 128 descriptors: every write went through.
    expect(
      lines.filter((l) => l.startsWith('write ')),
      output.slice(-3000),
    ).toEqual(Array.from({ length: (2 * NAMES) / 50 }, () => 'write ok'));
    // With every descriptor taken, the write is refused (not acknowledged) and readiness drops...
    expect(lines).toContainEqual(expect.stringMatching(/^hogged \d+ \(EMFILE\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/^starved failed NotConnectedError: .*EMFILE/));
    expect(lines).toContain('state reconnecting');
    // ...and once they are back the same process carries on: writes and builds work again.
    expect(lines).toContain('after connected');
    expect(lines).toContain('retry ok');
    const files = await xlsxFiles(dir);
    expect(files).toHaveLength(NAMES + 2);
    for (const name of files) {
      const rows = (await readWithExceljs(join(dir, name))).sheets[0]!.rows;
      expect(rows.length - 1, name).toBe(name.startsWith('site-new-') ? 1 : 2);
    }
  });
});
