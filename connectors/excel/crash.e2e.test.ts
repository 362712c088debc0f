import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { STATE_FOLDER } from './sink.js';
import { readWithExceljs, readWithReadExcelFile, tempFolder, xlsxFiles } from './test-support.js';

/**
 * The service killed with SIGKILL in the middle of a workbook build, again and again (the built
 * sink in a child process, `npm run build` first): every file present opens with both readers, and
 * in the end every acknowledged row is in exactly one file.
 */
const CHILD = resolve(import.meta.dirname, 'crash-child.mjs');
const BUILT = resolve(import.meta.dirname, '../../dist/connectors/excel/index.js');
if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run \`npm run build\` first (npm test does)`);
const TOTAL = 3000;
const BATCH = 50;
const KILLS = 6;

interface Run {
  /** Highest index acknowledged by the run. */
  acked: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  killedWhileBuilding: boolean;
}

function runChild(config: object, from: number, killAfterBuilds?: number): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      [CHILD, JSON.stringify(config), String(from), String(TOTAL), String(BATCH)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let acked = from - 1;
    let output = '';
    let pending = '';
    let builds = 0;
    let killedWhileBuilding = false;
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        output += `${line}\n`;
        if (line.startsWith('ack ')) acked = Number(line.slice(4));
        // A build has started and not finished: kill now, in the middle of it.
        if (
          line === 'log excel: writing workbook' &&
          killAfterBuilds !== undefined &&
          ++builds >= killAfterBuilds
        ) {
          if (!child.killed) {
            killedWhileBuilding = true;
            child.kill('SIGKILL');
          }
        }
      }
    });
    child.on('error', fail);
    child.on('exit', (code, signal) => done({ acked, code, signal, output, killedWhileBuilding }));
  });
}

async function checkEveryFileOpens(dir: string): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (const name of await xlsxFiles(dir)) {
    const path = join(dir, name);
    const { sheets } = await readWithExceljs(path);
    const other = await readWithReadExcelFile(path);
    expect(
      other.map((s) => s.name),
      name,
    ).toEqual(sheets.map((s) => s.name));
    for (const sheet of sheets) {
      expect(sheet.rows[0], `${name}/${sheet.name} header`).toEqual(['id', 'n', 'dev']);
      for (const row of sheet.rows.slice(1)) seen.set(String(row[0]), (seen.get(String(row[0])) ?? 0) + 1);
    }
    expect(
      other.reduce((n, s) => n + s.rows.length, 0),
      name,
    ).toBe(sheets.reduce((n, s) => n + s.rows.length, 0));
  }
  return seen;
}

describe('excel sink: SIGKILL in the middle of a flush', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('loses nothing acknowledged and corrupts nothing, kill after kill', async () => {
    const { dir, dispose } = await tempFolder('crash');
    cleanups.push(dispose);
    const config = {
      directory: dir,
      fileName: 'crash.xlsx',
      rotate: 'none',
      sheet: '{{payload.dev}}',
      maxRowsPerFile: 700,
      maxRowsPerSheet: 120,
      flushEvery: 0, // rebuild at every tick: a kill is very likely to land in a build
      manifest: true,
      columns: [
        { header: 'id', value: 'id' },
        { header: 'n', value: 'payload.n', type: 'integer' },
        { header: 'dev', value: 'payload.dev' },
      ],
    };
    let acked = -1;
    let killedInBuild = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const run = await runChild(config, acked + 1, 1 + (kill % 3));
      expect(run.signal, run.output.slice(-2000)).toBe('SIGKILL');
      if (run.killedWhileBuilding) killedInBuild++;
      acked = run.acked;
      // Whatever the moment of the kill, every file on disk is a whole workbook.
      const seen = await checkEveryFileOpens(dir);
      for (const [id, count] of seen) expect(count, `${id} in files`).toBe(1);
    }
    expect(killedInBuild).toBe(KILLS);
    expect(acked).toBeLessThan(TOTAL - 1); // the kills happened before the end

    const last = await runChild(config, acked + 1);
    expect(last.code, last.output.slice(-2000)).toBe(0);
    expect(last.output).toContain('done');

    const seen = await checkEveryFileOpens(dir);
    const missing: number[] = [];
    for (let n = 0; n < TOTAL; n++) if (seen.get(`row-${n}`) !== 1) missing.push(n);
    expect(missing, `rows not exactly once: ${missing.slice(0, 20).join(', ')}`).toEqual([]);
    expect(seen.size).toBe(TOTAL);
    // 3000 rows, 700 per file: 5 files, all but the last one final (no journal left for them).
    expect(await xlsxFiles(dir)).toEqual([
      'crash-2.xlsx',
      'crash-3.xlsx',
      'crash-4.xlsx',
      'crash-5.xlsx',
      'crash.xlsx',
    ]);
    expect(readdirSync(join(dir, STATE_FOLDER)).filter((n) => n.endsWith('.journal'))).toEqual([
      'crash-5.xlsx.journal',
    ]);
    expect(readdirSync(join(dir, STATE_FOLDER)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});
