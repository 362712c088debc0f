/** Helpers shared by the Excel sink's tests: read files back with two independent readers. */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import readXlsxFile from 'read-excel-file/node';
import { excelSinkConfig, type ExcelSinkConfig } from './spec.js';

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
