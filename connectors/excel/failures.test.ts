import { readdir, readFile, readlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BatchError, createMessage, FatalError, type Message } from '../../src/sdk/index.js';
import { STATE_FOLDER } from './sink.js';
import { Clock, lockFile, readWithExceljs, useExcelSinks, xlsxFiles } from './test-support.js';

/** Failures that belong to one message or one file: they never stop the other rows or files. */

const { cleanups, folder, startSink } = useExcelSinks();

const signal = (): AbortSignal => AbortSignal.timeout(10_000);
let seq = 0;
const msg = (payload: unknown, time = Date.UTC(2026, 0, 15, 8, 0, 0)): Message =>
  createMessage({ id: `f-${++seq}`, payload, time, meta: {} });

async function writeError(promise: Promise<void>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('the write succeeded');
}

describe('excel sink: a message that can never be written fails alone', () => {
  it('a field no column can name and a file name too long for the file system are dead-lettered, the rest written', async () => {
    const dir = await folder('one-message');
    const { sink, ctx } = await startSink({ directory: dir, fileName: '{{payload.site}}', rotate: 'none' });
    const longSite = 'x'.repeat(300);
    const batch = [
      msg({ site: 'a', v: 1 }),
      msg({ site: 'a', 'q"uote': 2 }), // one quote: a column like any other
      msg({ site: 'a', 'both"\'quotes': 3 }),
      msg({ site: longSite, v: 4 }),
      msg({ site: 'b', v: 5 }),
      msg({ site: 'c', 'only"\'bad': 7 }), // fails before its file is created
    ];
    const error = await writeError(sink.write(batch, signal()));
    expect(error).toBeInstanceOf(BatchError);
    const failures = (error as BatchError).failures;
    expect(failures.map((f) => f.index)).toEqual([2, 3, 5]);
    for (const f of failures) expect(f.error).toBeInstanceOf(FatalError);
    expect(failures[0]!.error.message).toMatch(/both"'quotes.*can not be a column/);
    expect(failures[1]!.error.message).toMatch(/file name .* is 305 bytes long.* at most/);
    // Readiness never moved: no folder problem was reported.
    expect(ctx.states.map((s) => s.state)).toEqual(['connected']);

    // The outbox retries nothing of what succeeded; later batches go on as usual.
    await sink.write([msg({ site: 'a', v: 6 })], signal());
    await sink.flush();
    expect(await xlsxFiles(dir)).toEqual(['a.xlsx', 'b.xlsx']);
    const a = (await readWithExceljs(join(dir, 'a.xlsx'))).sheets[0]!.rows;
    expect(a[0]).toEqual(['time', 'site', 'v', 'q"uote']);
    expect(a.slice(1).map((r) => r.slice(1))).toEqual([
      ['a', 1],
      ['a', undefined, 2],
      ['a', 6],
    ]);
    const b = (await readWithExceljs(join(dir, 'b.xlsx'))).sheets[0]!.rows;
    expect(b.slice(1).map((r) => r[2])).toEqual([5]);
  });

  it('a payload field named `time` gets its own, unique header', async () => {
    const dir = await folder('headers');
    const { sink } = await startSink({ directory: dir, fileName: 'h.xlsx', rotate: 'none' });
    await sink.write([msg({ time: 'shift 2', v: 1 })], signal());
    await sink.flush();
    const rows = (await readWithExceljs(join(dir, 'h.xlsx'))).sheets[0]!.rows;
    expect(rows[0]).toEqual(['time', 'time (2)', 'v']);
    expect(rows[1]!.slice(1)).toEqual(['shift 2', 1]);
  });
});

describe('excel sink: one file that can not be replaced', () => {
  it('is reported and retried while the other files keep being written and finished', async () => {
    const dir = await folder('locked');
    const clock = new Clock(Date.UTC(2026, 0, 15, 9));
    const { sink, ctx } = await startSink(
      { directory: dir, fileName: '{{payload.f}}-{{date:YYYY-MM-DD}}', manifest: true },
      { now: clock.now },
    );
    await sink.write([msg({ f: 'a', v: 1 }), msg({ f: 'b', v: 1 })], signal());
    await sink.flush();
    const locked = join(dir, 'a-2026-01-15.xlsx');
    let unlock: (() => void) | undefined = lockFile(locked);
    cleanups.push(async () => unlock?.());

    await sink.write([msg({ f: 'a', v: 2 }), msg({ f: 'b', v: 2 })], signal());
    await sink.flush();
    const values = async (name: string): Promise<unknown[]> =>
      (await readWithExceljs(join(dir, name))).sheets[0]!.rows.slice(1).map((r) => r[2]);
    expect(await values('b-2026-01-15.xlsx')).toEqual([1, 2]);
    expect(await values('a-2026-01-15.xlsx')).toEqual([1]);
    const reported = ctx.logs.find((l) => l.level === 'error' && /could not write/.test(l.msg ?? ''));
    expect(reported?.obj).toMatchObject({ file: 'a-2026-01-15.xlsx' });
    expect(ctx.states.map((s) => s.state)).toEqual(['connected']);

    // The day ends: b is finished at once, a stays waiting with its journal, and new rows go on.
    clock.time += 86_400_000;
    await sink.tick();
    await sink.flush();
    await sink.write([msg({ f: 'b', v: 3 })], signal());
    await sink.flush();
    const journals = (await readdir(join(dir, STATE_FOLDER))).filter((n) => n.endsWith('.journal'));
    expect(journals.sort()).toEqual(['a-2026-01-15.xlsx.journal', 'b-2026-01-16.xlsx.journal']);
    const manifest = JSON.parse(await readFile(join(dir, 'b-2026-01-15.xlsx.manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ final: true, rows: 2 });
    expect(await values('b-2026-01-16.xlsx')).toEqual([3]);

    // The file is released: the next attempt writes it, with every row.
    unlock();
    unlock = undefined;
    clock.time += 120_000; // past the retry delay
    await sink.tick();
    await sink.flush();
    expect(await values('a-2026-01-15.xlsx')).toEqual([1, 2]);
    const left = (await readdir(join(dir, STATE_FOLDER))).filter((n) => n.endsWith('.journal'));
    expect(left).toEqual(['b-2026-01-16.xlsx.journal']);
  });
});

describe('excel sink: retention deletes only what the sink wrote', () => {
  it("keeps the user's own .xlsx files, also those that look like ours", async () => {
    const dir = await folder('retention-own');
    const clock = new Clock(Date.UTC(2026, 0, 15, 9));
    const old = new Date(clock.time - 40 * 86_400_000);
    const config = {
      directory: dir,
      fileName: 'plant-{{date:YYYY-MM-DD}}',
      retention: { maxAge: '30d' },
    };
    const first = await startSink(config, { now: clock.now });
    await first.sink.write([msg({ v: 1 })], signal());
    clock.time += 86_400_000;
    await first.sink.tick();
    await first.sink.flush(); // plant-2026-01-15.xlsx is finished
    await first.sink.close();

    // The user's files: one of another name, one that follows our naming pattern, an old manifest-less copy.
    await writeFile(join(dir, 'budget.xlsx'), 'user data');
    await writeFile(join(dir, 'plant-2025-12-01.xlsx'), 'user copy');
    await writeFile(join(dir, 'plant-2025-12-02.xlsx.manifest.json'), '{"file":"other.xlsx"}');
    await writeFile(join(dir, 'plant-2025-12-02.xlsx'), 'user copy with a stray manifest');
    for (const name of [
      'budget.xlsx',
      'plant-2025-12-01.xlsx',
      'plant-2025-12-02.xlsx',
      'plant-2026-01-15.xlsx',
    ])
      await utimes(join(dir, name), old, old);

    // A new process: what the sink wrote is known from its folder, not from memory.
    const second = await startSink(config, { now: clock.now });
    await second.sink.tick();
    expect(await xlsxFiles(dir)).toEqual(['budget.xlsx', 'plant-2025-12-01.xlsx', 'plant-2025-12-02.xlsx']);
    expect(await second.ctx.registry.getSingleMetricAsString('passerelle_excel_retention_total')).toMatch(
      /deleted.* 1/,
    );
  });
});

describe('excel sink: open journals are capped', () => {
  it('holds at most maxOpenFiles journal descriptors, however many files it writes', async () => {
    const dir = await folder('cap');
    const { sink } = await startSink({
      directory: dir,
      fileName: 'f-{{payload.f}}',
      rotate: 'none',
      maxOpenFiles: 4,
    });
    const openJournals = async (): Promise<number> => {
      let n = 0;
      for (const fd of await readdir('/proc/self/fd')) {
        const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
        if (target.startsWith(dir) && target.endsWith('.journal')) n++;
      }
      return n;
    };
    for (let round = 0; round < 3; round++) {
      await sink.write(
        Array.from({ length: 20 }, (_, f) => msg({ f, round })),
        signal(),
      );
      expect(await openJournals()).toBeLessThanOrEqual(4);
    }
    await sink.flush();
    expect(await xlsxFiles(dir)).toHaveLength(20);
    const rows = (await readWithExceljs(join(dir, 'f-7.xlsx'))).sheets[0]!.rows;
    expect(rows.slice(1).map((r) => r[2])).toEqual([0, 1, 2]);
  });
});
