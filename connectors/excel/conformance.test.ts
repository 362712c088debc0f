import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { sinkConformance } from '../../test/conformance/sink.js';
import { createMessage } from '../../src/sdk/index.js';
import { ExcelSink } from './sink.js';
import { excelConfig, readWithExceljs, xlsxFiles } from './test-support.js';

const folders: string[] = [];
afterAll(async () => {
  for (const f of folders) await rm(f, { recursive: true, force: true });
});

/**
 * The shared sink suite. The "target" is the output folder: it goes down when it is moved away and
 * a file takes its place, and comes back when it is moved back. "Accepted" is "flushed to the
 * journal on disk"; holding acceptance holds the flush (the sink's `beforeSync` hook), counted as
 * a held answer once a batch reaches it, and `received()` reads the values back from the .xlsx files.
 */
sinkConformance('excel', () => {
  const base = mkdtempSync(join(tmpdir(), 'passerelle-excel-conformance-'));
  folders.push(base);
  const dir = join(base, 'out');
  mkdirSync(dir);
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  let held = 0;
  let current: ExcelSink | undefined;
  return {
    create(ctx) {
      current = new ExcelSink(excelConfig({ directory: dir, fileName: 'c.xlsx', rotate: 'none' }), ctx, {
        tickEvery: 50,
        beforeSync: () => {
          if (!gate) return Promise.resolve();
          held++;
          return gate;
        },
      });
      return current;
    },
    messages: (values) => values.map((v, i) => createMessage({ id: `${v}-${i}`, payload: { value: v } })),
    async received() {
      await current?.flush();
      const got: string[] = [];
      for (const name of await xlsxFiles(dir)) {
        const { sheets } = await readWithExceljs(join(dir, name));
        for (const s of sheets) for (const row of s.rows.slice(1)) got.push(String(row[1]));
      }
      return got;
    },
    async holdAcceptance() {
      gate = new Promise((resolve) => (open = resolve));
    },
    async releaseAcceptance() {
      open?.();
      gate = undefined;
    },
    // A batch appended to its journal and waiting for the flush: the write is in the sink's hands.
    heldAnswers: () => held,
    // Synchronous on purpose: the suite attaches its handler to an in-flight write right after
    // this resolves, and the sink's folder check (every 50 ms) must not run in between.
    async stopTarget() {
      renameSync(dir, join(base, 'away'));
      writeFileSync(dir, 'the folder is gone');
    },
    async startTarget() {
      rmSync(dir, { force: true });
      renameSync(join(base, 'away'), dir);
    },
  };
});
