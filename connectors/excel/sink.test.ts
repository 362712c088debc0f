import { createReadStream } from 'node:fs';
import { appendFile, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import ExcelJS from 'exceljs';
import { describe, expect, it } from 'vitest';
import { createFakeContext } from '../../test/conformance/context.js';
import { createMessage, NotConnectedError, type Message } from '../../src/sdk/index.js';
import { excelSink } from './index.js';
import { ExcelSink, STATE_FOLDER } from './sink.js';
import {
  excelConfig,
  readWithExceljs,
  readWithReadExcelFile,
  useExcelSinks,
  Clock,
  xlsxFiles,
} from './test-support.js';

const { cleanups, folder, startSink } = useExcelSinks();

const signal = (): AbortSignal => AbortSignal.timeout(10_000);
let seq = 0;
const msg = (
  payload: unknown,
  time = Date.UTC(2026, 0, 15, 8, 0, 0),
  meta: Record<string, unknown> = {},
): Message => createMessage({ id: `m-${++seq}`, payload, time, meta });

describe('excel sink: files read back', () => {
  it('with only `directory`: time first, then every scalar field, typed, in one sheet', async () => {
    const dir = await folder('defaults');
    const clock = new Clock(Date.UTC(2026, 0, 15, 9));
    const { sink } = await startSink({ directory: dir }, { now: clock.now });
    const time = Date.UTC(2026, 0, 15, 8, 30, 15);
    await sink.write(
      [
        msg({ temperature: 21.5, status: 'ok', running: true, device: { id: 'd-1', rssi: -70 } }, time),
        msg({ temperature: 22, extra: 'late field' }, time + 1000),
      ],
      signal(),
    );
    await sink.flush();
    expect(await xlsxFiles(dir)).toEqual(['test-2026-01-15.xlsx']);
    const path = join(dir, 'test-2026-01-15.xlsx');

    const { workbook, sheets } = await readWithExceljs(path);
    expect(sheets.map((s) => s.name)).toEqual(['data']);
    expect(sheets[0]!.rows).toEqual([
      ['time', 'temperature', 'status', 'running', 'device.id', 'device.rssi', 'extra'],
      [new Date(time), 21.5, 'ok', true, 'd-1', -70],
      [new Date(time + 1000), 22, undefined, undefined, undefined, undefined, 'late field'],
    ]);
    const ws = workbook.worksheets[0]!;
    expect(ws.getCell('A2').numFmt).toBe('yyyy-mm-dd hh:mm:ss');
    expect(ws.views[0]).toMatchObject({ state: 'frozen', ySplit: 1 });
    expect(ws.autoFilter).toBe('A1:G1');
    expect(ws.getRow(1).font?.bold).toBe(true);
    expect(ws.getColumn(1).width).toBeGreaterThanOrEqual(19); // room for yyyy-mm-dd hh:mm:ss
    expect(ws.getColumn(7).width).toBeGreaterThanOrEqual('late field'.length);

    const other = await readWithReadExcelFile(path);
    expect(other.map((s) => s.name)).toEqual(['data']);
    const [header, first] = other[0]!.rows;
    expect(header).toEqual(['time', 'temperature', 'status', 'running', 'device.id', 'device.rssi', 'extra']);
    // read-excel-file turns the serial back into a Date (floating point: within a millisecond).
    expect(Math.abs((first![0] as Date).getTime() - time)).toBeLessThanOrEqual(1);
    expect(first!.slice(1)).toEqual([21.5, 'ok', true, 'd-1', -70, null]);
  });

  it('configured columns: types, number formats, and dates shown in the time zone', async () => {
    const dir = await folder('columns');
    const clock = new Clock(Date.UTC(2026, 6, 1, 12));
    const { sink, ctx } = await startSink(
      {
        directory: dir,
        fileName: 'plant-{{date:YYYY-MM-DD}}',
        timeZone: 'Europe/Paris',
        columns: [
          { header: 'Time', value: 'time' },
          { header: 'Temp', value: 'payload.t', type: 'number', format: '0.00' },
          { header: 'Count', value: 'payload.n', type: 'integer', format: '#,##0' },
          { header: 'On', value: 'payload.on', type: 'boolean' },
          { header: 'Seen', value: 'payload.seen', type: 'datetime', format: 'dd/mm/yyyy hh:mm' },
          { header: 'Topic', value: 'meta.mqtt.topic', type: 'text' },
        ],
      },
      { now: clock.now },
    );
    // 10:15 UTC is 12:15 in Paris in summer.
    const time = Date.UTC(2026, 6, 1, 10, 15, 0);
    await sink.write(
      [
        msg({ t: '21.456', n: 12345.6, on: 'true', seen: '2026-07-01T06:00:00Z' }, time, {
          'mqtt.topic': 'a/b',
        }),
        msg({ t: 'warm', n: 1, on: 'maybe', seen: 'yesterday' }, time, { 'mqtt.topic': 'a/c' }),
      ],
      signal(),
    );
    await sink.flush();
    const path = join(dir, 'plant-2026-07-01.xlsx');
    const { workbook, sheets } = await readWithExceljs(path);
    const ws = workbook.worksheets[0]!;
    expect(sheets[0]!.rows[0]).toEqual(['Time', 'Temp', 'Count', 'On', 'Seen', 'Topic']);
    // exceljs reads a serial back as that UTC wall-clock: 12:15 "UTC" means the cell shows 12:15.
    expect(sheets[0]!.rows[1]).toEqual([
      new Date(Date.UTC(2026, 6, 1, 12, 15)),
      21.456,
      12346,
      true,
      new Date(Date.UTC(2026, 6, 1, 8, 0)),
      'a/b',
    ]);
    // Values that do not fit their type leave the cell empty, and are counted and logged.
    expect(sheets[0]!.rows[2]).toEqual([
      new Date(Date.UTC(2026, 6, 1, 12, 15)),
      undefined,
      1,
      undefined,
      undefined,
      'a/c',
    ]);
    expect(ws.getCell('B2').numFmt).toBe('0.00');
    expect(ws.getCell('C2').numFmt).toBe('#,##0');
    expect(ws.getCell('E2').numFmt).toBe('dd/mm/yyyy hh:mm');
    expect(ws.getCell('A2').numFmt).toBe('yyyy-mm-dd hh:mm:ss');
    const metrics = await ctx.registry.getSingleMetricAsString('passerelle_excel_cell_errors_total');
    expect(metrics).toMatch(/passerelle_excel_cell_errors_total\{[^}]*\} 3/);
    expect(
      ctx.logs.some((l) => l.level === 'warn' && JSON.stringify(l.obj).includes('is not a finite number')),
    ).toBe(true);

    const other = await readWithReadExcelFile(path);
    const row = other[0]!.rows[1]!;
    expect(Math.abs((row[0] as Date).getTime() - Date.UTC(2026, 6, 1, 12, 15))).toBeLessThanOrEqual(1);
    expect(row.slice(1, 4)).toEqual([21.456, 12346, true]);
    expect(row[5]).toBe('a/b');
  });

  it('text that looks like a formula stays text', async () => {
    const dir = await folder('formula');
    const { sink } = await startSink({ directory: dir, fileName: 'f.xlsx', rotate: 'none' });
    const risky = ['=1+2', '+SUM(A1:A2)', '-2+3', '@SUM(1)', '\t=1', '\r=1', '=HYPERLINK("http://x","y")'];
    await sink.write(
      risky.map((text) => msg({ text })),
      signal(),
    );
    await sink.flush();
    const path = join(dir, 'f.xlsx');
    const { workbook, sheets } = await readWithExceljs(path);
    // A formula would read back as { formula } with type Formula: every cell is text (rich text
    // when it starts with whitespace, for xml:space="preserve").
    workbook.worksheets[0]!.getColumn(2).eachCell((cell, row) => {
      if (row > 1) expect([ExcelJS.ValueType.String, ExcelJS.ValueType.RichText]).toContain(cell.type);
    });
    // XML turns a bare carriage return into a line feed on reading (the cell is still text).
    expect(sheets[0]!.rows.slice(1).map((r) => String(r[1]).replace(/\r\n?/g, '\n'))).toEqual(
      risky.map((t) => t.replace(/\r/g, '\n')),
    );
    const other = await readWithReadExcelFile(path);
    // read-excel-file trims by default: compare without the leading tab / CR.
    expect(other[0]!.rows.slice(1).map((r) => r[1])).toEqual(risky.map((t) => t.trim()));
  });

  it('one sheet per key, with names made valid, collisions resolved, and stable after a restart', async () => {
    const dir = await folder('sheets');
    const config = { directory: dir, fileName: 's.xlsx', rotate: 'none', sheet: '{{meta.key}}' };
    const keys = [
      'plant/line:1*?',
      'plant_line_1__', // cleans to the same name as the first one
      'a-very-long-device-name-that-goes-past-31-characters',
      "'quoted'",
      '[]',
      'History',
    ];
    const first = await startSink(config);
    await first.sink.write(
      keys.map((key) => msg({ v: 1 }, undefined, { key })),
      signal(),
    );
    await first.sink.close();
    const second = await startSink(config);
    await second.sink.write(
      [...keys].reverse().map((key) => msg({ v: 2 }, undefined, { key })),
      signal(),
    );
    await second.sink.flush();
    const expected = [
      'plant_line_1__',
      'plant_line_1__ ~2',
      'a-very-long-device-name-that-go',
      'quoted',
      '__',
      'History_',
    ];
    const { sheets } = await readWithExceljs(join(dir, 's.xlsx'));
    expect(sheets.map((s) => s.name)).toEqual(expected);
    for (const s of sheets) expect(s.rows.slice(1).map((r) => r[1])).toEqual([1, 2]);
    expect((await readWithReadExcelFile(join(dir, 's.xlsx'))).map((s) => s.name)).toEqual(expected);
  });

  it('continues on a new sheet of the same key before the row limit (limit lowered)', async () => {
    const dir = await folder('rollover');
    const { sink } = await startSink({
      directory: dir,
      fileName: 'r.xlsx',
      rotate: 'none',
      sheet: '{{payload.k}}',
      maxRowsPerSheet: 4, // header + 3 rows
    });
    const batch = Array.from({ length: 8 }, (_, i) => msg({ k: 'dev', i }));
    batch.splice(2, 0, msg({ k: 'other', i: 100 }));
    await sink.write(batch, signal());
    await sink.flush();
    const { sheets } = await readWithExceljs(join(dir, 'r.xlsx'));
    expect(sheets.map((s) => [s.name, s.rows.length])).toEqual([
      ['dev', 4],
      ['other', 2],
      ['dev (2)', 4],
      ['dev (3)', 3],
    ]);
    const order = sheets
      .filter((s) => s.name.startsWith('dev'))
      .flatMap((s) => s.rows.slice(1).map((r) => r[2]));
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const other = await readWithReadExcelFile(join(dir, 'r.xlsx'));
    expect(other.map((s) => s.rows.length)).toEqual([4, 2, 4, 3]);
  });
});

describe('excel sink: rotation', () => {
  it('closes the period at its boundary in the time zone (injected clock) and starts a new file', async () => {
    const dir = await folder('rotate');
    // 22:59:59 UTC on 31 Jan is 23:59:59 in Berlin: still the 31st there.
    const clock = new Clock(Date.UTC(2026, 0, 31, 22, 59, 59));
    const { sink } = await startSink(
      { directory: dir, fileName: 'day-{{date:YYYY-MM-DD}}', timeZone: 'Europe/Berlin', manifest: true },
      { now: clock.now },
    );
    await sink.write([msg({ v: 1 }), msg({ v: 2 })], signal());
    await sink.flush();
    expect(await xlsxFiles(dir)).toEqual(['day-2026-01-31.xlsx']);
    const journals = async (): Promise<string[]> =>
      (await readdir(join(dir, STATE_FOLDER))).filter((n) => n.endsWith('.journal'));
    expect(await journals()).toEqual(['day-2026-01-31.xlsx.journal']);

    clock.time += 1000; // midnight in Berlin
    await sink.tick();
    await sink.flush();
    // The closed period's file is final: its journal is gone.
    expect(await journals()).toEqual([]);
    const manifest = JSON.parse(await readFile(join(dir, 'day-2026-01-31.xlsx.manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ final: true, rows: 2, sheets: [{ name: 'data', rows: 2 }] });
    const digest = createHash('sha256');
    for await (const chunk of createReadStream(join(dir, 'day-2026-01-31.xlsx')))
      digest.update(chunk as Buffer);
    expect(manifest.sha256).toBe(digest.digest('hex'));

    await sink.write([msg({ v: 3 })], signal());
    await sink.flush();
    expect(await xlsxFiles(dir)).toEqual(['day-2026-01-31.xlsx', 'day-2026-02-01.xlsx']);
    const { sheets } = await readWithExceljs(join(dir, 'day-2026-02-01.xlsx'));
    expect(sheets[0]!.rows.slice(1).map((r) => r[1])).toEqual([3]);
  });

  it('starts name-2.xlsx once a file holds maxRowsPerFile rows, also after a restart', async () => {
    const dir = await folder('parts');
    const config = { directory: dir, fileName: 'p.xlsx', rotate: 'none', maxRowsPerFile: 3 };
    const first = await startSink(config);
    await first.sink.write(
      [1, 2, 3, 4].map((v) => msg({ v })),
      signal(),
    );
    await first.sink.close();
    const second = await startSink(config);
    await second.sink.write(
      [5, 6, 7].map((v) => msg({ v })),
      signal(),
    );
    await second.sink.flush();
    expect(await xlsxFiles(dir)).toEqual(['p-2.xlsx', 'p-3.xlsx', 'p.xlsx']);
    const values = async (name: string): Promise<unknown[]> =>
      (await readWithExceljs(join(dir, name))).sheets[0]!.rows.slice(1).map((r) => r[1]);
    expect(await values('p.xlsx')).toEqual([1, 2, 3]);
    expect(await values('p-2.xlsx')).toEqual([4, 5, 6]);
    expect(await values('p-3.xlsx')).toEqual([7]);
  });
});

describe('excel sink: durability', () => {
  it('replays the journal after a crash and cuts off a batch that was cut short', async () => {
    const dir = await folder('replay');
    const config = { directory: dir, fileName: 'j.xlsx', rotate: 'none' };
    const first = await startSink(config);
    await first.sink.write([msg({ v: 1 }), msg({ v: 2 })], signal());
    // A crash: no close(), and a half-written batch at the end of the journal.
    const journal = join(dir, STATE_FOLDER, 'j.xlsx.journal');
    await appendFile(journal, '[0,{"d":1},99]\n[0,{"d":1},100');
    cleanups.splice(cleanups.length - 1, 1); // this instance is "dead"
    const second = await startSink(config);
    await second.sink.write([msg({ v: 3 })], signal());
    await second.sink.flush();
    const { sheets } = await readWithExceljs(join(dir, 'j.xlsx'));
    expect(sheets[0]!.rows.slice(1).map((r) => r[1])).toEqual([1, 2, 3]);
  });

  it('finishes the open file when the columns change between two runs, and goes on in the next part', async () => {
    const dir = await folder('columns-changed');
    const base = { directory: dir, fileName: 'c.xlsx', rotate: 'none' };
    const first = await startSink(base); // inferred columns
    await first.sink.write([msg({ v: 1 })], signal());
    await first.sink.close();
    const second = await startSink({
      ...base,
      columns: [{ header: 'V', value: 'payload.v', type: 'integer' }],
    });
    await second.sink.write([msg({ v: 2 })], signal());
    await second.sink.flush();
    expect(await xlsxFiles(dir)).toEqual(['c-2.xlsx', 'c.xlsx']);
    expect((await readWithExceljs(join(dir, 'c.xlsx'))).sheets[0]!.rows).toEqual([
      ['time', 'v'],
      [expect.any(Date), 1],
    ]);
    expect((await readWithExceljs(join(dir, 'c-2.xlsx'))).sheets[0]!.rows).toEqual([['V'], [2]]);
    expect((await readdir(join(dir, STATE_FOLDER))).filter((n) => n.endsWith('.journal'))).toEqual([
      'c-2.xlsx.journal',
    ]);
  });

  it('does not write a batch twice when it is delivered again', async () => {
    const dir = await folder('dedupe');
    const config = { directory: dir, fileName: 'd.xlsx', rotate: 'none' };
    const batch = [msg({ v: 1 }), msg({ v: 2 })];
    const first = await startSink(config);
    await first.sink.write(batch, signal());
    await first.sink.write(batch, signal());
    await first.sink.close();
    const second = await startSink(config);
    await second.sink.write(batch, signal()); // after a restart too
    await second.sink.write([msg({ v: 3 })], signal());
    await second.sink.flush();
    const { sheets } = await readWithExceljs(join(dir, 'd.xlsx'));
    expect(sheets[0]!.rows.slice(1).map((r) => r[1])).toEqual([1, 2, 3]);
  });

  it('an unwritable folder at start: a readable error, and it works once the folder can be created', async () => {
    const base = await folder('blocked');
    const blocker = join(base, 'exports');
    await writeFile(blocker, 'not a folder');
    const ctx = createFakeContext();
    const sink = new ExcelSink(excelConfig({ directory: join(blocker, 'daily') }), ctx, {
      tickEvery: 60_000,
    });
    const failure = sink.connect(signal());
    await expect(failure).rejects.toBeInstanceOf(NotConnectedError);
    await expect(failure).rejects.toThrow(/cannot write to .*exports\/daily: ENOTDIR/);
    await rm(blocker);
    await sink.connect(signal());
    cleanups.push(() => sink.close());
    await sink.write([msg({ v: 1 })], signal());
    await sink.flush();
    expect(await xlsxFiles(join(blocker, 'daily'))).toHaveLength(1);
  });

  it('a folder that goes away: readiness false, writes refused, nothing lost once it is back', async () => {
    const base = await folder('vanish');
    const dir = join(base, 'out');
    const { sink, ctx } = await startSink(
      { directory: dir, fileName: 'v.xlsx', rotate: 'none' },
      { tickEvery: 50 },
    );
    await sink.write([msg({ v: 1 })], signal());
    await rename(dir, join(base, 'moved'));
    await writeFile(dir, 'in the way');
    await ctx.waitForState('reconnecting');
    expect(ctx.states.at(-1)?.error?.message).toMatch(/out/);
    const refused = [msg({ v: 2 })];
    await expect(sink.write(refused, signal())).rejects.toBeInstanceOf(NotConnectedError);
    await rm(dir);
    await rename(join(base, 'moved'), dir);
    await ctx.waitForState('connected');
    await sink.write(refused, signal()); // the outbox retries what was refused
    await sink.flush();
    const { sheets } = await readWithExceljs(join(dir, 'v.xlsx'));
    expect(sheets[0]!.rows.slice(1).map((r) => r[1])).toEqual([1, 2]);
  });
});

describe('excel sink: retention and bad input', () => {
  it("deletes, or archives, finished files older than maxAge and leaves open ones and the user's alone", async () => {
    const dir = await folder('retention');
    const archive = join(dir, 'archive');
    const clock = new Clock(Date.UTC(2026, 0, 15, 9));
    const old = new Date(clock.time - 10 * 86_400_000);
    await writeFile(join(dir, 'old.xlsx'), 'x');
    await writeFile(join(dir, 'old.xlsx.manifest.json'), '{}');
    await writeFile(join(dir, 'old-kept.csv'), 'not ours');
    await utimes(join(dir, 'old.xlsx'), old, old);
    await utimes(join(dir, 'old-kept.csv'), old, old);
    const { sink, ctx } = await startSink(
      {
        directory: dir,
        fileName: 'f-{{date:YYYY-MM-DD}}',
        retention: { maxAge: '7d', archiveDirectory: archive },
      },
      { now: clock.now },
    );
    await sink.write([msg({ v: 1 })], signal());
    clock.time += 86_400_000;
    await sink.tick(); // f-2026-01-15.xlsx is finished
    await sink.write([msg({ v: 2 })], signal());
    await sink.flush();
    await utimes(join(dir, 'f-2026-01-15.xlsx'), old, old);
    await utimes(join(dir, 'f-2026-01-16.xlsx'), old, old);
    clock.time += 61_000;
    await sink.tick();
    expect((await readdir(dir)).sort()).toEqual([
      '.passerelle-excel',
      'archive',
      'f-2026-01-16.xlsx',
      'old-kept.csv',
      'old.xlsx',
      'old.xlsx.manifest.json',
    ]);
    expect(await readdir(archive)).toEqual(['f-2026-01-15.xlsx']);
    expect(await ctx.registry.getSingleMetricAsString('passerelle_excel_retention_total')).toMatch(
      /archived.* 1/,
    );
  });

  it('a retention that fails (archive folder unusable) is counted and logged; writing goes on', async () => {
    const dir = await folder('retention-fails');
    const blocker = join(dir, 'not-a-folder');
    await writeFile(blocker, 'a file where the archive folder should be');
    const clock = new Clock(Date.UTC(2026, 0, 15, 9));
    const { sink, ctx } = await startSink(
      {
        directory: dir,
        fileName: 'f-{{date:YYYY-MM-DD}}',
        retention: { maxAge: '7d', archiveDirectory: join(blocker, 'archive') },
      },
      { now: clock.now },
    );
    await sink.write([msg({ v: 1 })], signal());
    clock.time += 86_400_000;
    await sink.tick(); // f-2026-01-15.xlsx is finished
    await sink.flush();
    const old = new Date(clock.time - 10 * 86_400_000);
    await utimes(join(dir, 'f-2026-01-15.xlsx'), old, old);
    clock.time += 61_000;
    await sink.tick(); // retention runs and cannot archive
    expect(await ctx.registry.getSingleMetricAsString('passerelle_excel_retention_total')).toMatch(
      /action="failed".* 1/,
    );
    expect(ctx.logs.some((l) => l.level === 'warn' && /retention/.test(l.msg ?? ''))).toBe(true);
    await sink.write([msg({ v: 2 })], signal()); // the sink is not broken by it
    await sink.flush();
    expect(await readdir(dir)).toContain('f-2026-01-15.xlsx');
    expect(await readdir(dir)).toContain('f-2026-01-16.xlsx');
  });

  it('cuts text over 32,767 characters, drops control characters, and never fails the batch on odd payloads', async () => {
    const dir = await folder('odd');
    const { sink, ctx } = await startSink({ directory: dir, fileName: 'o.xlsx', rotate: 'none' });
    const huge = 'x'.repeat(100_000);
    await sink.write(
      [
        msg({ text: huge }),
        msg({ text: 'bell\u0007 and nul\u0000 and \uffff and a lone \ud800 surrogate' }),
        msg('a bare string'),
        msg(42),
        msg(Buffer.from([1, 2, 3])),
        msg({ list: [1, 2], nested: { deep: { deeper: true } } }),
      ],
      signal(),
    );
    await sink.flush();
    const { sheets } = await readWithExceljs(join(dir, 'o.xlsx'));
    const rows = sheets[0]!.rows;
    expect(rows[0]).toEqual(['time', 'text', 'value', 'list', 'nested.deep.deeper']);
    expect((rows[1]![1] as string).length).toBe(32_767);
    expect(rows[2]![1]).toBe('bell and nul and \ufffd and a lone \ufffd surrogate');
    expect(rows[3]![2]).toBe('a bare string');
    expect(rows[4]![2]).toBe(42);
    expect(rows[5]![2]).toBe('AQID');
    expect(rows[6]!.slice(3)).toEqual(['[1,2]', true]);
    expect(await ctx.registry.getSingleMetricAsString('passerelle_excel_cell_errors_total')).toMatch(/ 1$/m);
    expect((await readWithReadExcelFile(join(dir, 'o.xlsx')))[0]!.rows).toHaveLength(7);
  });

  it('rejects bad configuration with readable messages', () => {
    const issues = (input: unknown): string[] => {
      const r = excelSink.config.safeParse(input);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues({ directory: '/x' })).toEqual([]);
    expect(issues({})).toEqual([expect.stringMatching(/^directory: /)]);
    expect(issues({ directory: '/x', timeZone: 'Mars/Olympus' })).toEqual([
      'timeZone: an IANA time zone such as Europe/Paris or UTC',
    ]);
    expect(issues({ directory: '/x', fileName: '../up/{{pipeline}}.xlsx' })).toEqual([
      'fileName: a file name, not a path: no / or \\',
    ]);
    expect(issues({ directory: '/x', maxRowsPerSheet: 2_000_000 })[0]).toMatch(/^maxRowsPerSheet: /);
    expect(issues({ directory: '/x', rotate: 'fortnight' })[0]).toMatch(/^rotate: /);
    expect(issues({ directory: '/x', flushEvery: 'soon' })[0]).toMatch(/^flushEvery: /);
    expect(issues({ directory: '/x', direcotry: '/y' })[0]).toMatch(/direcotry/);
    expect(
      () => new ExcelSink(excelConfig({ directory: '/x', sheet: '{{nope}}' }), createFakeContext()),
    ).toThrow(/unknown name "nope"/);
  });
});
