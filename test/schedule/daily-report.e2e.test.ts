/**
 * The daily report end to end, as a user runs it: a real InfluxDB 1.x holds readings; the built CLI
 * (`passerelle run --once`, a child process) runs one tick of a pipeline shaped like
 * pipelines/examples/daily-report.yaml: InfluxQL over the window -> map -> aggregate (hourly) ->
 * Excel (`rotate: run`, opened back with openpyxl) + Google Sheets (`rotate: run`, the stand-in).
 * A second run of the same day replaces both outputs: one file, one tab, the same rows.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInfluxDB, type InfluxDBHandle } from '../harness/influxdb.js';
import { SheetsStub } from '../sheets-stub/server.js';
import { readWithOpenpyxl, xlsxFiles } from '../../connectors/excel/test-support.js';
import { tempDir } from '../e2e/service-process.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'bin/passerelle.js');
const DB = 'plant';
const HOUR = 3_600_000;
// 2026-12-04 in Europe/Paris (UTC+1): 2026-12-03T23:00Z to 2026-12-04T23:00Z.
const DAY_START = Date.UTC(2026, 11, 3, 23);
const DAY_END = DAY_START + 24 * HOUR;

function cli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, PASSERELLE_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => done({ code, out, err }));
  });
}

let influx: InfluxDBHandle;
const stub = new SheetsStub({
  oauth: {
    clients: { 'report-client': 'report-secret' },
    refreshTokens: { 'report-refresh': 'ana@example.com' },
  },
});
const tmp = tempDir('daily-report');
let spreadsheetId: string;
let pipelineFile: string;
const reports = join(tmp.dir, 'reports');

/** Two machines, readings every 10 minutes from 22:00Z the day before to 00:50Z the day after. */
const readings: { machine: string; time: number; value: number }[] = [];
for (let t = DAY_START - HOUR; t < DAY_END + 2 * HOUR; t += 10 * 60_000)
  for (const [machine, base] of [
    ['press-1', 20],
    ['press-2', 40],
  ] as const)
    readings.push({ machine, time: t, value: base + ((t / 60_000) % 7) / 4 });

beforeAll(async () => {
  expect(existsSync(join(ROOT, 'dist/src/cli/main.js')), 'run npm run build').toBe(true);
  [influx] = await Promise.all([startInfluxDB(), stub.start()]);
  await fetch(`${influx.url}/query?q=${encodeURIComponent(`CREATE DATABASE ${DB}`)}`, { method: 'POST' });
  const lines = readings.map((r) => `temperature,machine=${r.machine} value=${r.value} ${r.time}000000`);
  const res = await fetch(`${influx.url}/write?db=${DB}&precision=ns`, {
    method: 'POST',
    body: lines.join('\n'),
  });
  expect(res.status).toBe(204);
  mkdirSync(reports);
  spreadsheetId = stub.createSpreadsheet({ users: ['ana@example.com'] });
  const columns = [
    '      - { header: Hour, value: payload.windowStart }',
    '      - { header: Machine, value: payload.key, type: text }',
    '      - { header: Min, value: payload.temperature.min, type: number }',
    '      - { header: Max, value: payload.temperature.max, type: number }',
    '      - { header: Mean, value: payload.temperature.mean, type: number }',
    '      - { header: Readings, value: payload.temperature.count, type: number }',
  ];
  pipelineFile = tmp.write(
    'daily-report.yaml',
    [
      'name: daily-report',
      'schedule:',
      "  cron: '0 6 * * *'",
      '  timeZone: Europe/Paris',
      '  window: { previous: day }',
      'source:',
      '  type: influxdb',
      `  url: ${influx.url}`,
      `  database: ${DB}`,
      '  query: >-',
      '    SELECT value FROM temperature',
      '    WHERE time >= {{ window.start }} AND time < {{ window.end }} GROUP BY machine',
      'transforms:',
      '  - type: map',
      `    expression: '{ "machine": payload.tags.machine, "temperature": payload.fields.value }'`,
      '  - type: aggregate',
      '    window: 1h',
      "    key: '{{ payload.machine }}'",
      '    fields: [payload.temperature]',
      '    functions: [min, max, mean, count]',
      'sinks:',
      '  - type: excel',
      `    directory: ${reports}`,
      "    fileName: 'daily-{{ window.start:YYYY-MM-DD }}.xlsx'",
      '    rotate: run',
      '    manifest: true',
      '    timeZone: Europe/Paris',
      '    columns:',
      ...columns,
      '  - type: google-sheets',
      `    spreadsheetId: ${spreadsheetId}`,
      `    rootUrl: ${stub.url}`,
      '    auth:',
      '      clientId: report-client',
      '      clientSecret: ${env:SHEETS_CLIENT_SECRET}',
      '      refreshToken: ${env:SHEETS_REFRESH_TOKEN}',
      `      tokenUrl: ${stub.tokenUrl}`,
      "    tab: 'daily {{ window.start:YYYY-MM-DD }}'",
      '    rotate: run',
      '    timeZone: Europe/Paris',
      '    columns:',
      ...columns,
      '',
    ].join('\n'),
  );
}, 120_000);

afterAll(async () => {
  await Promise.all([influx?.dispose(), stub.stop()]);
  tmp.remove();
});

/** What the report must hold: per machine and Paris hour of 2026-12-04, min/max/mean/count. */
function expectedRows(): [string, number, number, number, number][] {
  const groups = new Map<string, number[]>();
  for (const r of readings) {
    if (r.time < DAY_START || r.time >= DAY_END) continue;
    const hour = Math.floor(r.time / HOUR) * HOUR;
    const key = `${hour}|${r.machine}`;
    groups.set(key, [...(groups.get(key) ?? []), r.value]);
  }
  return [...groups.entries()]
    .map(([key, values]) => {
      const machine = key.split('|')[1]!;
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      return [machine, Math.min(...values), Math.max(...values), mean, values.length] as [
        string,
        number,
        number,
        number,
        number,
      ];
    })
    .sort((a, b) => a[0].localeCompare(b[0]) || 0);
}

const runDay = () =>
  cli(['run', '--once', pipelineFile, '--window', '2026-12-04T00:00/2026-12-05T00:00'], {
    SHEETS_CLIENT_SECRET: 'report-secret',
    SHEETS_REFRESH_TOKEN: 'report-refresh',
  });

function comparable(rows: unknown[][]): [string, number, number, number, number][] {
  return rows
    .map(
      (r) =>
        [String(r[1]), Number(r[2]), Number(r[3]), Number(r[4]), Number(r[5])] as [
          string,
          number,
          number,
          number,
          number,
        ],
    )
    .sort((a, b) => a[0].localeCompare(b[0]) || 0);
}

function expectSameRows(actual: [string, number, number, number, number][]): void {
  const want = expectedRows();
  expect(actual).toHaveLength(want.length);
  // Sorted by machine only: compare as multisets of rows (each hour once per machine).
  const key = (r: [string, number, number, number, number]) =>
    `${r[0]}|${r[1]}|${r[2]}|${r[3].toFixed(9)}|${r[4]}`;
  expect(actual.map(key).sort()).toEqual(want.map(key).sort());
}

describe('daily report: InfluxDB 1.x -> aggregate -> Excel + Google Sheets, one run of a day', () => {
  it('writes one complete file and one tab for the Paris day, hourly rows per machine, as the query gives', async () => {
    const { code, out, err } = await runDay();
    expect(err).toBe('');
    expect(code).toBe(0);
    const manifest = JSON.parse(out) as {
      window: { start: string; end: string };
      rows: Record<string, number>;
    };
    expect(manifest.window).toEqual({
      start: new Date(DAY_START).toISOString(),
      end: new Date(DAY_END).toISOString(),
    });
    // 24 hours x 2 machines.
    expect(manifest.rows).toEqual({ excel: 48, 'google-sheets': 48 });

    expect(await xlsxFiles(reports)).toEqual(['daily-2026-12-04.xlsx']);
    const file = join(reports, 'daily-2026-12-04.xlsx');
    const [sheet] = await readWithOpenpyxl(file);
    expect(sheet!.rows[0]).toEqual(['Hour', 'Machine', 'Min', 'Max', 'Mean', 'Readings']);
    expectSameRows(comparable(sheet!.rows.slice(1)));
    const fileManifest = JSON.parse(readFileSync(`${file}.manifest.json`, 'utf8')) as {
      run: { id: string; window: { start: string; end: string } };
    };
    expect(fileManifest.run.window.start).toBe(new Date(DAY_START).toISOString());

    const tab = stub.values(spreadsheetId, 'daily 2026-12-04');
    expect(tab[0]!.slice(0, 6)).toEqual(['Hour', 'Machine', 'Min', 'Max', 'Mean', 'Readings']);
    expectSameRows(comparable(tab.slice(1)));
    expect(stub.values(spreadsheetId, '_runs').slice(1)).toHaveLength(1);
  }, 180_000);

  it('a second run of the same day replaces both outputs: one file, one tab, the same rows', async () => {
    const { code, err } = await runDay();
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(await xlsxFiles(reports)).toEqual(['daily-2026-12-04.xlsx']);
    const [sheet] = await readWithOpenpyxl(join(reports, 'daily-2026-12-04.xlsx'));
    expectSameRows(comparable(sheet!.rows.slice(1)));
    const titles = stub.spreadsheets.get(spreadsheetId)!.sheets.map((s) => s.title);
    expect(titles.filter((t) => t.startsWith('daily '))).toEqual(['daily 2026-12-04']);
    expect(titles.filter((t) => t.startsWith('~run'))).toEqual([]);
    expectSameRows(comparable(stub.values(spreadsheetId, 'daily 2026-12-04').slice(1)));
    expect(stub.values(spreadsheetId, '_runs').slice(1)).toHaveLength(1);
  }, 180_000);
});
