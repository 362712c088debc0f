/** Helpers shared by the Excel sink's tests: read files back with two independent readers. */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import readXlsxFile from 'read-excel-file/node';
import { afterEach } from 'vitest';
import { createFakeContext, type FakeContext } from '../../test/conformance/context.js';
import { ExcelSink, type ExcelSinkOptions } from './sink.js';
import { excelSinkConfig, type ExcelSinkConfig } from './spec.js';

const execFileAsync = promisify(execFile);

export async function tempFolder(name: string): Promise<{ dir: string; dispose: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `passerelle-excel-${name}-`));
  return { dir, dispose: () => rm(dir, { recursive: true, force: true }) };
}

export function excelConfig(input: Record<string, unknown>): ExcelSinkConfig {
  return excelSinkConfig.parse(input);
}

/** The .xlsx files of a folder, sorted. */
export async function xlsxFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.xlsx')).sort();
}

export interface ReadSheet {
  name: string;
  rows: unknown[][];
}

/** All sheets with exceljs (document mode): cell values as exceljs gives them, header row first. */
export async function readWithExceljs(
  path: string,
): Promise<{ workbook: ExcelJS.Workbook; sheets: ReadSheet[] }> {
  const workbook = new ExcelJS.Workbook();
  await workbook.xlsx.readFile(path);
  const sheets = workbook.worksheets.map((ws) => {
    const rows: unknown[][] = [];
    ws.eachRow({ includeEmpty: false }, (row) => {
      // Rich text (how text with leading or trailing whitespace is written) as its plain text.
      const values = (row.values as unknown[])
        .slice(1)
        .map((v) =>
          v !== null && typeof v === 'object' && 'richText' in v
            ? (v as ExcelJS.CellRichTextValue).richText.map((r) => r.text).join('')
            : v,
        );
      rows.push(values);
    });
    return { name: ws.name, rows };
  });
  return { workbook, sheets };
}

/** All sheets with read-excel-file, a second, independent reader. */
export async function readWithReadExcelFile(path: string): Promise<ReadSheet[]> {
  const sheets = await readXlsxFile(path);
  return sheets.map((s) => ({ name: s.sheet, rows: s.data as unknown[][] }));
}

const OPENPYXL_DUMP = `
import json, sys, datetime, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
def cell(v):
    return v.isoformat() if isinstance(v, (datetime.datetime, datetime.date)) else v
json.dump([{"name": ws.title, "rows": [[cell(c) for c in row] for row in ws.iter_rows(values_only=True)]} for ws in wb.worksheets], sys.stdout)
`;

/**
 * All sheets with openpyxl (Debian's python3-openpyxl, installed by scripts/setup-test-machine.sh),
 * the reader of pandas: a third, independent reader that keeps text exactly (exceljs unescapes
 * entities twice, read-excel-file trims). Dates come back as ISO text without zone.
 */
export async function readWithOpenpyxl(path: string): Promise<ReadSheet[]> {
  const { stdout } = await execFileAsync(OPENPYXL_PYTHON, ['-c', OPENPYXL_DUMP, path], {
    maxBuffer: 256 * 1024 * 1024,
  });
  return JSON.parse(stdout) as ReadSheet[];
}

/** Debian's python, where apt installs python3-openpyxl (a pyenv python first in PATH lacks it). */
const OPENPYXL_PYTHON = '/usr/bin/python3';

/**
 * Makes a file impossible to replace, like Excel holding it open on a share: immutable
 * (`chattr +i`) where the file system supports it, otherwise a bind mount of the file over itself
 * (a rename over a mount point fails with EBUSY). Returns the undo.
 */
export function lockFile(path: string): () => void {
  try {
    execFileSync('chattr', ['+i', path], { stdio: 'ignore' });
    return () => execFileSync('chattr', ['-i', path]);
  } catch {
    execFileSync('mount', ['--bind', path, path]);
    return () => execFileSync('umount', [path]);
  }
}

/** A clock the test moves by hand (rotation, retention). */
export class Clock {
  constructor(public time: number) {}
  now = (): number => this.time;
}

/**
 * Temporary folders and connected sinks for one test file, closed and removed after each test
 * (in reverse order). Call it at the top level of the file.
 */
export function useExcelSinks(): {
  folder: (name: string) => Promise<string>;
  startSink: (
    config: Record<string, unknown>,
    options?: ExcelSinkOptions & { ctx?: FakeContext },
  ) => Promise<{ sink: ExcelSink; ctx: FakeContext }>;
  cleanups: (() => Promise<void>)[];
} {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return {
    cleanups,
    async folder(name) {
      const { dir, dispose } = await tempFolder(name);
      cleanups.push(dispose);
      return dir;
    },
    async startSink(config, options = {}) {
      const ctx = options.ctx ?? createFakeContext();
      const sink = new ExcelSink(excelConfig(config), ctx, { tickEvery: 60_000, ...options });
      await sink.connect(AbortSignal.timeout(10_000));
      cleanups.push(() => sink.close());
      return { sink, ctx };
    },
  };
}
