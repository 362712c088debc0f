import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPipelineTexts } from '../../src/config/load.js';
import { builtinRegistry } from '../../src/registry/index.js';
import { dailyRun, runMessages } from '../../test/harness/runs.js';
import { BatchError, createMessage, FatalError, RetryableError } from '../../src/sdk/index.js';
import { STATE_FOLDER } from './sink.js';
import {
  lockFile,
  readWithExceljs,
  readWithOpenpyxl,
  readWithReadExcelFile,
  useExcelSinks,
  xlsxFiles,
} from './test-support.js';

/** `rotate: run`: one file per run, complete or absent, replaced by a rerun of the same run. */

const { folder, startSink } = useExcelSinks();
const signal = (): AbortSignal => AbortSignal.timeout(20_000);

const config = (dir: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  directory: dir,
  rotate: 'run',
  timeZone: 'Europe/Paris',
  fileName: 'daily-{{window.start:YYYY-MM-DD}}_to_{{window.end:YYYY-MM-DD}}',
  manifest: true,
  ...extra,
});

const FILE = 'daily-2026-12-04_to_2026-12-05.xlsx';

/**
 * Data rows, read with openpyxl: exceljs' reader unescapes entities twice (`&amp;amp;` in the
 * file, as it should be, reads back as `&`) and read-excel-file trims text.
 */
async function dataRows(path: string): Promise<unknown[][]> {
  const sheets = await readWithOpenpyxl(path);
  return sheets.flatMap((s) => s.rows.slice(1));
}

describe('excel sink: rotate: run', () => {
  it('a run written in 3 batches is one file, there only once the run ended, with a manifest naming the run', async () => {
    const dir = await folder('run-3');
    const { sink } = await startSink(config(dir));
    const run = dailyRun();
    await sink.beginRun(run, signal());
    const sent = runMessages(run, 0, 30);
    await sink.write(sent.slice(0, 10), signal());
    await sink.write(sent.slice(10, 20), signal());
    // A flush (the periodic rebuild) never puts a run's file in place before the run ends.
    await sink.flush();
    expect(await xlsxFiles(dir)).toEqual([]);
    await sink.write(sent.slice(20), signal());
    await sink.flush();
    expect(await xlsxFiles(dir)).toEqual([]);

    const output = await sink.endRun(run, signal());
    expect(output).toEqual({ targets: [join(dir, FILE)], rows: 30 });
    expect(await xlsxFiles(dir)).toEqual([FILE]);
    const rows = await dataRows(join(dir, FILE));
    expect(rows.map((r) => [r[1], r[2]])).toEqual(
      sent.map((m) => [(m.payload as { n: number }).n, (m.payload as { text: string }).text]),
    );
    // exceljs, a second reader, sees the same rows (but for its double unescaping of entities).
    const { sheets } = await readWithExceljs(join(dir, FILE));
    expect(sheets[0]!.rows.slice(1).map((r) => r[1])).toEqual(sent.map((_, i) => i));
    const third = await readWithReadExcelFile(join(dir, FILE));
    expect(third[0]!.rows.slice(1).map((r) => r[1])).toEqual(sent.map((_, i) => i));

    const bytes = await readFile(join(dir, FILE));
    const manifest = JSON.parse(await readFile(join(dir, `${FILE}.manifest.json`), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(manifest).toMatchObject({
      file: FILE,
      run: { id: run.id, window: { start: '2026-12-03T23:00:00.000Z', end: '2026-12-04T23:00:00.000Z' } },
      rows: 30,
      sheets: [{ name: 'data', rows: 30 }],
      final: true,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      bytes: bytes.length,
    });
    // The run's journal is gone: nothing of it is left to recover.
    expect((await readdir(join(dir, STATE_FOLDER))).filter((n) => n.endsWith('.journal'))).toEqual([]);
  });

  it('a rerun after a crash mid-run (a new sink instance) gives the same single file, exact rows, no duplicates', async () => {
    const dir = await folder('run-crash');
    const run = dailyRun();
    const sent = runMessages(run, 0, 30);
    // Attempt 1: two batches, then the process "dies" (the sink is never closed nor ended).
    const first = await startSink(config(dir));
    await first.sink.beginRun(run, signal());
    await first.sink.write(sent.slice(0, 10), signal());
    await first.sink.write(sent.slice(10, 20), signal());
    expect((await readdir(join(dir, STATE_FOLDER))).filter((n) => n.endsWith('.journal'))).toHaveLength(1);

    // Attempt 2, another instance (another replica, after the restart): the whole run again.
    const second = await startSink(config(dir));
    // The unfinished run's journal is discarded at start, never finished into a partial file.
    expect((await readdir(join(dir, STATE_FOLDER))).filter((n) => n.endsWith('.journal'))).toEqual([]);
    expect(await xlsxFiles(dir)).toEqual([]);
    const retry = { ...run, attempt: 2 };
    await second.sink.beginRun(retry, signal());
    for (let i = 0; i < 30; i += 10) await second.sink.write(sent.slice(i, i + 10), signal());
    expect(await second.sink.endRun(retry, signal())).toMatchObject({ rows: 30 });
    expect(await xlsxFiles(dir)).toEqual([FILE]);
    const rows = await dataRows(join(dir, FILE));
    expect(rows.map((r) => r[1])).toEqual(sent.map((m) => (m.payload as { n: number }).n));
  });

  it('a rerun in the same process after a failed attempt, and a rerun of a completed run, replace the output', async () => {
    const dir = await folder('run-rerun');
    const { sink } = await startSink(config(dir));
    const run = dailyRun();
    const sent = runMessages(run, 0, 30);
    // Attempt 1 fails after a batch (no endRun); attempt 2 begins the same run again.
    await sink.beginRun(run, signal());
    await sink.write(sent.slice(0, 10), signal());
    await sink.beginRun({ ...run, attempt: 2 }, signal());
    // The same batch again: part of this attempt, written once.
    await sink.write(sent.slice(0, 10), signal());
    await sink.write(sent.slice(0, 10), signal());
    await sink.write(sent.slice(10), signal());
    expect((await sink.endRun(run, signal())).rows).toBe(30);
    expect((await dataRows(join(dir, FILE))).map((r) => r[1])).toEqual(sent.map((_, i) => i));

    // The run completed, but the executor runs it again (its job's completion was lost): the data
    // changed meanwhile (late points). The file is replaced, not doubled, and so is the manifest.
    const late = runMessages(run, 0, 12, ' (late)');
    await sink.beginRun({ ...run, attempt: 3 }, signal());
    await sink.write(late, signal());
    expect((await sink.endRun(run, signal())).rows).toBe(12);
    expect(await xlsxFiles(dir)).toEqual([FILE]);
    const rows = await dataRows(join(dir, FILE));
    expect(rows.map((r) => r[2])).toEqual(late.map((m) => (m.payload as { text: string }).text));
    const manifest = JSON.parse(await readFile(join(dir, `${FILE}.manifest.json`), 'utf8')) as {
      rows: number;
    };
    expect(manifest.rows).toBe(12);
  });

  it('two runs give two files; a run with no rows still gets its file (header only)', async () => {
    const dir = await folder('run-two');
    const { sink } = await startSink(
      config(dir, {
        columns: [
          { header: 'n', value: 'payload.n' },
          { header: 'text', value: 'payload.text' },
        ],
      }),
    );
    const a = dailyRun(4);
    const b = dailyRun(5);
    await sink.beginRun(a, signal());
    await sink.beginRun(b, signal());
    // Interleaved batches of two runs going on at once: each message goes to its run's file.
    const ma = runMessages(a, 0, 6);
    const mb = runMessages(b, 100, 4);
    await sink.write([...ma.slice(0, 3), ...mb.slice(0, 2)], signal());
    await sink.write([...mb.slice(2), ...ma.slice(3)], signal());
    expect(await sink.endRun(b, signal())).toMatchObject({ rows: 4 });
    expect(await sink.endRun(a, signal())).toMatchObject({ rows: 6 });
    const empty = dailyRun(6);
    await sink.beginRun(empty, signal());
    expect(await sink.endRun(empty, signal())).toMatchObject({ rows: 0 });
    expect(await xlsxFiles(dir)).toEqual([
      FILE,
      'daily-2026-12-05_to_2026-12-06.xlsx',
      'daily-2026-12-06_to_2026-12-07.xlsx',
    ]);
    expect((await dataRows(join(dir, FILE))).map((r) => r[0])).toEqual([0, 1, 2, 3, 4, 5]);
    expect((await dataRows(join(dir, 'daily-2026-12-05_to_2026-12-06.xlsx'))).map((r) => r[0])).toEqual([
      100, 101, 102, 103,
    ]);
    const sheets = await readWithOpenpyxl(join(dir, 'daily-2026-12-06_to_2026-12-07.xlsx'));
    expect(sheets[0]!.rows).toEqual([['n', 'text']]);
  });

  it('parts by maxRowsPerFile belong to the run: a rerun with fewer rows removes the extra part', async () => {
    const dir = await folder('run-parts');
    const { sink } = await startSink(config(dir, { maxRowsPerFile: 10 }));
    const run = dailyRun();
    await sink.beginRun(run, signal());
    const sent = runMessages(run, 0, 25);
    await sink.write(sent.slice(0, 12), signal());
    await sink.write(sent.slice(12), signal());
    // The full parts wait for the end of the run like the first.
    await sink.flush();
    expect(await xlsxFiles(dir)).toEqual([]);
    const out = await sink.endRun(run, signal());
    const names = [FILE, FILE.replace('.xlsx', '-2.xlsx'), FILE.replace('.xlsx', '-3.xlsx')];
    expect(out).toEqual({ targets: names.map((n) => join(dir, n)), rows: 25 });
    const all = [];
    for (const n of names) all.push(...(await dataRows(join(dir, n))).map((r) => r[1]));
    expect(all).toEqual(sent.map((_, i) => i));

    await sink.beginRun({ ...run, attempt: 2 }, signal());
    await sink.write(sent.slice(0, 15), signal());
    expect((await sink.endRun(run, signal())).targets).toEqual(names.slice(0, 2).map((n) => join(dir, n)));
    expect(await xlsxFiles(dir)).toEqual(names.slice(0, 2).sort());
    expect((await readdir(dir)).filter((n) => n.includes('-3.'))).toEqual([]);
  });

  it('two different runs that name the same file: the second fails with a clear error, the first stays', async () => {
    const dir = await folder('run-collision');
    const { sink } = await startSink(config(dir, { fileName: 'report' }));
    const a = dailyRun(4);
    await sink.beginRun(a, signal());
    await sink.write(runMessages(a, 0, 3), signal());
    await sink.endRun(a, signal());
    const b = dailyRun(5);
    await sink.beginRun(b, signal());
    const error = await sink.write(runMessages(b, 0, 2), signal()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BatchError);
    const failure = (error as BatchError).failures[0]!.error;
    expect(failure).toBeInstanceOf(FatalError);
    expect(failure.message).toMatch(
      /report\.xlsx holds run daily@2026-12-04T23:00:00.000Z.*put the window in fileName/,
    );
    expect((await dataRows(join(dir, 'report.xlsx'))).map((r) => r[1])).toEqual([0, 1, 2]);
    // A file that no run of this sink wrote is never replaced either.
    await writeFile(join(dir, 'mine.xlsx'), 'a user file');
    const { sink: other } = await startSink(config(dir, { fileName: 'mine' }));
    const c = dailyRun(7);
    await other.beginRun(c, signal());
    await expect(other.endRun(c, signal())).rejects.toThrow(
      /mine\.xlsx is already in .* no run of this sink wrote it/,
    );
    expect(await readFile(join(dir, 'mine.xlsx'), 'utf8')).toBe('a user file');
  });

  it('a run file that can not be replaced (locked): endRun fails retryable, the earlier file stays; the rerun replaces it', async () => {
    const dir = await folder('run-locked');
    const { sink } = await startSink(config(dir));
    const run = dailyRun();
    await sink.beginRun(run, signal());
    await sink.write(runMessages(run, 0, 5), signal());
    await sink.endRun(run, signal());
    const unlock = lockFile(join(dir, FILE));
    let locked = true;
    try {
      await sink.beginRun({ ...run, attempt: 2 }, signal());
      await sink.write(runMessages(run, 0, 8, ' (2)'), signal());
      const error = await sink.endRun(run, signal()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(RetryableError);
      expect((error as Error).message).toMatch(/the files of run daily@.* could not be written/);
      // The earlier attempt's file is intact; no temporary file is left in the folder.
      expect((await dataRows(join(dir, FILE))).map((r) => r[2])).toEqual(
        runMessages(run, 0, 5).map((m) => (m.payload as { text: string }).text),
      );
      expect(await readdir(dir)).toEqual([STATE_FOLDER, FILE]);
      unlock();
      locked = false;
      // The executor retries the run whole.
      await sink.beginRun({ ...run, attempt: 3 }, signal());
      await sink.write(runMessages(run, 0, 8, ' (3)'), signal());
      expect((await sink.endRun(run, signal())).rows).toBe(8);
      expect((await dataRows(join(dir, FILE))).map((r) => r[2])).toEqual(
        runMessages(run, 0, 8, ' (3)').map((m) => (m.payload as { text: string }).text),
      );
    } finally {
      if (locked) unlock();
    }
  });

  it('outside a scheduled pipeline: each message fails alone with a clear error, nothing is written', async () => {
    const dir = await folder('run-none');
    const { sink } = await startSink(config(dir));
    const plain = createMessage({ id: 'p1', time: Date.UTC(2026, 11, 4), meta: {}, payload: { n: 1 } });
    const run = dailyRun();
    const [unbegun] = runMessages(run, 0, 1);
    const error = await sink.write([plain, unbegun!], signal()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BatchError);
    const failures = (error as BatchError).failures;
    expect(failures.map((f) => f.index)).toEqual([0, 1]);
    expect(failures[0]!.error.message).toMatch(
      /not part of a run: `rotate: run` writes one file per run of a scheduled pipeline/,
    );
    expect(failures[1]!.error.message).toMatch(/belongs to run daily@.* which was not begun/);
    for (const f of failures) expect(f.error).toBeInstanceOf(FatalError);
    await expect(sink.endRun(run, signal())).rejects.toThrow(/ended without beginRun/);
    await sink.flush();
    expect(await readdir(dir)).toEqual([STATE_FOLDER]);
  });

  it('with a period rotation, runs are counted: endRun says which files hold the run and how many rows', async () => {
    const dir = await folder('run-day');
    const { sink } = await startSink({ directory: dir, fileName: 'plain', rotate: 'none' });
    const run = dailyRun();
    await sink.beginRun(run, signal());
    await sink.write(runMessages(run, 0, 5), signal());
    await sink.write([createMessage({ id: 'other', time: 0, meta: {}, payload: { n: 9 } })], signal());
    expect(await sink.endRun(run, signal())).toEqual({ targets: [join(dir, 'plain.xlsx')], rows: 5 });
  });

  it('validate refuses rotate: run in a pipeline without a schedule', () => {
    const text = [
      'name: not-scheduled',
      'source: { type: simulator }',
      'sinks:',
      '  - { type: excel, directory: /tmp/x, rotate: run }',
      '',
    ].join('\n');
    const result = loadPipelineTexts([{ file: 'p.yaml', text }], builtinRegistry, { offline: true });
    const messages = result.issues.map((i) => `${i.path} ${i.message}`);
    expect(messages.join('\n')).toMatch(
      /sinks\[0\]\.rotate.*rotate: run writes one file per run of a scheduled pipeline: this pipeline has no `schedule`/,
    );
    const scheduled = loadPipelineTexts(
      [{ file: 'p.yaml', text: text.replace('sinks:', 'schedule: { every: 15m }\nsinks:') }],
      builtinRegistry,
      { offline: true },
    );
    expect(scheduled.issues.map((i) => i.message).join('\n')).not.toMatch(/rotate: run/);
  });
});
