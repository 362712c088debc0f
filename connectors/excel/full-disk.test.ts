import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFakeContext, waitFor } from '../../test/conformance/context.js';
import { createMessage, NotConnectedError, RUN_META_KEY, type Message } from '../../src/sdk/index.js';
import { ExcelSink, STATE_FOLDER } from './sink.js';
import { excelConfig, readWithExceljs, tempFolder } from './test-support.js';

/**
 * A full disk, for real: a small tmpfs mounted by the test (tests run as root). Writes fail and are
 * not acknowledged, readiness goes false, nothing crashes, and once there is space again every row
 * that was acknowledged is in the file exactly once, with the refused ones written on retry.
 */

const mounts: string[] = [];
const disposals: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const mount of mounts) execFileSync('umount', ['-l', mount]);
  for (const dispose of disposals) await dispose();
});

async function smallDisk(name: string, size: string): Promise<string> {
  const { dir, dispose } = await tempFolder(name);
  disposals.push(dispose);
  const mount = join(dir, 'disk');
  await mkdir(mount);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mount]);
  mounts.push(mount);
  return mount;
}

let seq = 0;
const msg = (text: string): Message =>
  createMessage({ id: `d-${++seq}`, payload: { n: seq, text }, time: Date.UTC(2026, 0, 15, 8), meta: {} });

async function fillUntilFull(
  size: string,
  messageBytes: number,
  batchSize: number,
): Promise<{ acked: number; retried: number; rows: unknown[][] }> {
  const disk = await smallDisk(`full-${size}`, size);
  const ctx = createFakeContext();
  const sink = new ExcelSink(
    excelConfig({ directory: disk, fileName: 'full.xlsx', rotate: 'none', flushEvery: '1h' }),
    ctx,
    { tickEvery: 50 },
  );
  await sink.connect(AbortSignal.timeout(10_000));
  let acked = 0;
  const refused: Message[][] = [];
  try {
    // Write until the disk refuses a few batches (the outbox keeps refused batches and retries them).
    for (let i = 0; i < 5000 && refused.length < 3; i++) {
      const batch = Array.from({ length: batchSize }, () => msg('x'.repeat(messageBytes)));
      try {
        await sink.write(batch, AbortSignal.timeout(10_000));
        acked += batch.length;
      } catch (error) {
        expect(error).toBeInstanceOf(NotConnectedError);
        refused.push(batch);
      }
    }
    expect(refused.length).toBe(3);
    expect(acked).toBeGreaterThan(0);
    await ctx.waitForState('reconnecting');
    expect(ctx.states.at(-1)?.error?.message).toMatch(/no space left|ENOSPC/i);
    // A workbook build on the full disk fails without taking anything down.
    await sink.flush();
    // The journal ends with a complete batch: the refused ones were cut off.
    const journal = await readFile(join(disk, STATE_FOLDER, 'full.xlsx.journal'), 'utf8');
    expect(journal.endsWith('\n')).toBe(true);
    expect(journal.trimEnd().split('\n').at(-1)).toMatch(/^\{"b":/);
    // Still full: repair attempts made after this point fail, and the sink stays not ready.
    const failedRepairs = (): number =>
      ctx.logs.filter((l) => l.msg === 'excel: folder still not writable').length;
    const repairsBefore = failedRepairs();
    await waitFor(() => failedRepairs() >= repairsBefore + 2, 'two more failed repair attempts');
    expect(ctx.state).toBe('reconnecting');
    const late = [msg('late')];
    await expect(sink.write(late, AbortSignal.timeout(10_000))).rejects.toBeInstanceOf(NotConnectedError);
    refused.push(late);

    // Space returns: the sink is ready again by itself, and the outbox's retries go through.
    execFileSync('mount', ['-o', 'remount,size=64m', disk]);
    await ctx.waitForState('connected');
    let retried = 0;
    for (const batch of refused) {
      await sink.write(batch, AbortSignal.timeout(10_000));
      retried += batch.length;
    }
    await sink.flush();
    const { sheets } = await readWithExceljs(join(disk, 'full.xlsx'));
    const files = (await readdir(disk)).filter((n) => n.endsWith('.xlsx'));
    expect(files).toEqual(['full.xlsx']);
    return { acked, retried, rows: sheets[0]!.rows.slice(1) };
  } finally {
    await sink.close();
  }
}

describe('excel sink on a full disk', () => {
  it('2 MiB tmpfs: every acknowledged row is in the file once the disk has space again', async () => {
    const { acked, retried, rows } = await fillUntilFull('2m', 200, 25);
    expect(rows.length).toBe(acked + retried);
    const ids = rows.map((r) => r[1] as number);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('1 MiB tmpfs with 4 KB messages: the same, and the process survives', async () => {
    const { acked, retried, rows } = await fillUntilFull('1m', 4096, 10);
    expect(rows.length).toBe(acked + retried);
    expect(rows.filter((r) => (r[2] as string).length === 4096)).toHaveLength(rows.length - 1);
  });

  it('a workbook build that runs out of space fails cleanly (no crash, no hang, no temp file) and is retried', async () => {
    const disk = await smallDisk('full-build', '2m');
    const ctx = createFakeContext();
    const sink = new ExcelSink(
      excelConfig({ directory: disk, fileName: 'build.xlsx', rotate: 'none', flushEvery: '1h' }),
      ctx,
      { tickEvery: 60_000 },
    );
    await sink.connect(AbortSignal.timeout(10_000));
    try {
      // Text that does not compress: the workbook is about as big as the rows.
      const batch = Array.from({ length: 200 }, () => msg(randomBytes(1500).toString('base64')));
      await sink.write(batch, AbortSignal.timeout(10_000));
      // Something else fills the disk, leaving room for the journal but not for the workbook.
      const filler = join(disk, 'filler.bin');
      const handle = await open(filler, 'w');
      try {
        for (;;) {
          const { bytesWritten } = await handle.write(Buffer.alloc(64 * 1024));
          if (bytesWritten < 64 * 1024) break;
        }
      } catch (error) {
        expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
      } finally {
        await handle.close();
      }
      await sink.flush();
      const failed = ctx.logs.find((l) => /could not write the workbook/.test(l.msg ?? ''));
      expect(JSON.stringify(failed?.obj)).toMatch(/ENOSPC|no space|bytes written/i);
      expect(await readdir(disk)).toEqual(['.passerelle-excel', 'filler.bin']);
      expect((await readdir(join(disk, STATE_FOLDER))).filter((n) => n.endsWith('.tmp'))).toEqual([]);
      // Journals still take rows: readiness is not affected by a failed build.
      expect(ctx.state).toBe('connected');

      await rm(filler);
      await sink.flush();
      const { sheets } = await readWithExceljs(join(disk, 'build.xlsx'));
      expect(sheets[0]!.rows.slice(1).map((r) => r[2])).toEqual(
        batch.map((m) => (m.payload as { text: string }).text),
      );
    } finally {
      await sink.close();
    }
  });

  it('a run on a full disk: refused batches are retried, the run ends with exactly its rows in one file', async () => {
    const disk = await smallDisk('full-run', '2m');
    const ctx = createFakeContext();
    const sink = new ExcelSink(
      excelConfig({
        directory: disk,
        fileName: 'run-{{window.start:YYYY-MM-DD}}',
        rotate: 'run',
        manifest: true,
      }),
      ctx,
      { tickEvery: 50 },
    );
    await sink.connect(AbortSignal.timeout(10_000));
    const start = Date.UTC(2026, 11, 4);
    const run = {
      id: 'disk@2026-12-05T00:00:00.000Z',
      pipeline: 'disk',
      window: { start, end: start + 86_400_000 },
      scheduledAt: start + 86_400_000,
      attempt: 1,
      timeZone: 'UTC',
    };
    const runMsg = (): Message => {
      const m = msg('x'.repeat(200));
      return { ...m, meta: { [RUN_META_KEY]: { id: run.id, window: run.window } } };
    };
    try {
      await sink.beginRun(run, AbortSignal.timeout(10_000));
      let acked = 0;
      const refused: Message[][] = [];
      for (let i = 0; i < 5000 && refused.length < 2; i++) {
        const batch = Array.from({ length: 25 }, runMsg);
        try {
          await sink.write(batch, AbortSignal.timeout(10_000));
          acked += batch.length;
        } catch (error) {
          expect(error).toBeInstanceOf(NotConnectedError);
          refused.push(batch);
        }
      }
      expect(acked).toBeGreaterThan(0);
      await ctx.waitForState('reconnecting');
      // Nothing of the run is in the folder while it is written.
      expect((await readdir(disk)).filter((n) => n.endsWith('.xlsx'))).toEqual([]);
      execFileSync('mount', ['-o', 'remount,size=64m', disk]);
      // Back by itself: the run's journal is reopened (not discarded: the run is still going).
      await ctx.waitForState('connected');
      for (const batch of refused) await sink.write(batch, AbortSignal.timeout(10_000));
      const total = acked + refused.flat().length;
      expect(await sink.endRun(run, AbortSignal.timeout(60_000))).toEqual({
        targets: [join(disk, 'run-2026-12-04.xlsx')],
        rows: total,
      });
      const { sheets } = await readWithExceljs(join(disk, 'run-2026-12-04.xlsx'));
      const ids = sheets[0]!.rows.slice(1).map((r) => r[1] as number);
      expect(ids).toHaveLength(total);
      expect(new Set(ids).size).toBe(total);
      const manifest = JSON.parse(
        await readFile(join(disk, 'run-2026-12-04.xlsx.manifest.json'), 'utf8'),
      ) as {
        rows: number;
        run: { id: string };
      };
      expect(manifest).toMatchObject({ rows: total, run: { id: run.id } });
    } finally {
      await sink.close();
    }
  });
});
