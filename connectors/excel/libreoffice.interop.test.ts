import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createFakeContext } from '../../test/conformance/context.js';
import { createMessage, RUN_META_KEY, type Message } from '../../src/sdk/index.js';
import { ExcelSink } from './sink.js';
import { excelConfig, readWithExceljs, readWithOpenpyxl, tempFolder } from './test-support.js';

/**
 * The files opened by LibreOffice (Debian's libreoffice-calc-nogui, `soffice --headless`, installed
 * by .ci/run) and converted to CSV: every cell compared with what was sent. exceljs reads them back
 * too, and openpyxl (Debian's python3-openpyxl) for the run files.
 */

const run_ = promisify(execFile);
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

const TEXTS = [
  '  two leading spaces',
  'two trailing spaces  ',
  '\tleading tab',
  'trailing tab\t',
  ' both ',
  '   ',
  'inner  spaces\tand tab',
  'line one\nline two',
  '=1+1',
  '+SUM(A1:A2)',
  '-2+3',
  '@SUM(1)',
  '=HYPERLINK("http://example.com","x")',
  'Ünïcödé 日本語 Ελληνικά עברית 🎉👩‍🔧',
  'comma, "quotes" and ; semicolon',
  // Text that looks like XML entities: the file must hold it escaped once, not decoded.
  '&amp;',
  'R&D <b>bold</b> a &lt; b',
  '&amp;amp; &quot;q&quot; &apos; &gt;',
  '&#38; &#x26;',
  'x'.repeat(30_000),
  'plain',
];
/**
 * What exceljs 4.4's reader gives for a plain text cell (`t="str"`): the XML entities decoded a
 * second time (inline strings, written for text with edge whitespace, are read right).
 */
function exceljsReads(text: string): string {
  if (/^[ \t]|[ \t]$|\n/.test(text)) return text;
  return text.replace(
    /&(amp|lt|gt|quot|apos);/g,
    (_, name: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[name]!,
  );
}
const NUMBERS = [0, -1.5, 3.141592653589793, 1e15, -0.000123, 1234567.891, 0.1 + 0.2, 2 ** 53, 6.02e23, -42];

/** RFC 4180: fields in double quotes may hold commas, quotes (doubled) and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  const endField = (): void => {
    row.push(field);
    field = '';
  };
  const endRow = (): void => {
    endField();
    rows.push(row);
    row = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') endField();
    else if (c === '\n') endRow();
    else if (c !== '\r') field += c;
  }
  if (field !== '' || row.length > 0) endRow();
  return rows;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
const shown = (ms: number, millis: boolean): string => {
  const d = new Date(ms);
  const base = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return millis ? `${base}.${pad(d.getUTCMilliseconds(), 3)}` : base;
};

describe('excel sink: files opened by LibreOffice', () => {
  it('every cell reads back as sent: dates, numbers, booleans, whitespace, formula-like text, Unicode, long text', async () => {
    const { dir, dispose } = await tempFolder('libreoffice');
    cleanups.push(dispose);
    const sink = new ExcelSink(
      excelConfig({
        directory: dir,
        fileName: 'interop.xlsx',
        rotate: 'none',
        columns: [
          { header: 'time', value: 'time' },
          { header: 'precise', value: 'payload.at', type: 'datetime', format: 'yyyy-mm-dd hh:mm:ss.000' },
          { header: 'number', value: 'payload.number' },
          { header: 'flag', value: 'payload.flag' },
          { header: ' text ', value: 'payload.text' },
        ],
      }),
      createFakeContext(),
      { tickEvery: 60_000 },
    );
    await sink.connect(AbortSignal.timeout(10_000));
    const start = Date.UTC(2026, 0, 15, 8, 30, 15);
    const sent: { time: number; at: number; number: number; flag: boolean; text: string }[] = [];
    for (let i = 0; i < Math.max(TEXTS.length, NUMBERS.length); i++)
      sent.push({
        time: start + i * 61_000,
        at: Date.UTC(1999 + i, i % 12, 1 + i, i % 24, i, i, 7 * i),
        number: NUMBERS[i % NUMBERS.length]!,
        flag: i % 2 === 0,
        text: TEXTS[i % TEXTS.length]!,
      });
    const messages: Message[] = sent.map((s, i) =>
      createMessage({
        id: `lo-${i}`,
        time: s.time,
        meta: {},
        payload: { at: s.at, number: s.number, flag: s.flag, text: s.text },
      }),
    );
    await sink.write(messages, AbortSignal.timeout(10_000));
    await sink.close();
    const path = join(dir, 'interop.xlsx');

    // LibreOffice, headless, with a profile of its own; cells exported with full precision, not as shown.
    const profile = join(dir, 'lo-profile');
    const out = join(dir, 'csv');
    await run_(
      'soffice',
      [
        `-env:UserInstallation=file://${profile}`,
        '--headless',
        '--convert-to',
        'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false',
        '--outdir',
        out,
        path,
      ],
      { timeout: 120_000 },
    );
    const rows = parseCsv(await readFile(join(out, 'interop.csv'), 'utf8'));
    expect(rows[0]).toEqual(['time', 'precise', 'number', 'flag', ' text ']);
    expect(rows).toHaveLength(sent.length + 1);
    for (const [i, s] of sent.entries()) {
      const [time, precise, number, flag, text] = rows[i + 1]!;
      expect(time, `row ${i} time`).toBe(shown(s.time, false));
      expect(precise, `row ${i} precise`).toBe(shown(s.at, true));
      // LibreOffice writes 15 significant digits.
      expect(Math.abs(Number(number) - s.number), `row ${i} number ${number}`).toBeLessThanOrEqual(
        Math.abs(s.number) * 1e-14,
      );
      expect(flag, `row ${i} flag`).toBe(s.flag ? 'TRUE' : 'FALSE');
      expect(text, `row ${i} text ${JSON.stringify(s.text.slice(0, 40))}`).toBe(s.text);
    }

    // exceljs reads the same values back, exactly, but for its own reader's flaw: it decodes the
    // named entities of a plain text cell's `<v>` twice (`&amp;amp;` in the file, as it must be,
    // reads as `&`). LibreOffice above read the text as sent. Passerelle never reads an .xlsx back.
    const { sheets } = await readWithExceljs(path);
    expect(sheets[0]!.rows[0]).toEqual(['time', 'precise', 'number', 'flag', ' text ']);
    for (const [i, s] of sent.entries()) {
      const [time, at, number, flag, text] = sheets[0]!.rows[i + 1]!;
      expect((time as Date).getTime()).toBe(s.time);
      expect((at as Date).getTime()).toBe(s.at);
      expect([number, flag, text]).toEqual([s.number, s.flag, exceljsReads(s.text)]);
    }
  });

  it('a run file (rotate: run, 3 batches) opens in LibreOffice and openpyxl with every cell as sent', async () => {
    const { dir, dispose } = await tempFolder('libreoffice-run');
    cleanups.push(dispose);
    const sink = new ExcelSink(
      excelConfig({
        directory: dir,
        rotate: 'run',
        timeZone: 'Europe/Paris',
        fileName: 'run-{{window.start:YYYY-MM-DD}}',
        columns: [
          { header: 'time', value: 'time' },
          { header: 'number', value: 'payload.number' },
          { header: 'text', value: 'payload.text' },
        ],
      }),
      createFakeContext(),
      { tickEvery: 60_000 },
    );
    await sink.connect(AbortSignal.timeout(10_000));
    const start = Date.UTC(2026, 11, 3, 23);
    const run = {
      id: 'lo@2026-12-04T23:00:00.000Z',
      pipeline: 'lo',
      window: { start, end: start + 86_400_000 },
      scheduledAt: start + 86_400_000,
      attempt: 1,
      timeZone: 'Europe/Paris',
    };
    const sent = TEXTS.map((text, i) => ({
      time: start + i * 3_600_000,
      number: NUMBERS[i % NUMBERS.length]!,
      text,
    }));
    const messages: Message[] = sent.map((s, i) =>
      createMessage({
        id: `run-${i}`,
        time: s.time,
        meta: { [RUN_META_KEY]: { id: run.id, window: run.window } },
        payload: { number: s.number, text: s.text },
      }),
    );
    await sink.beginRun(run, AbortSignal.timeout(10_000));
    const third = Math.ceil(messages.length / 3);
    for (let i = 0; i < messages.length; i += third)
      await sink.write(messages.slice(i, i + third), AbortSignal.timeout(10_000));
    const { targets } = await sink.endRun(run, AbortSignal.timeout(60_000));
    await sink.close();
    const path = join(dir, 'run-2026-12-04.xlsx');
    expect(targets).toEqual([path]);
    // Dates show Paris wall-clock time (UTC+1 in December).
    const paris = (ms: number): number => ms + 3_600_000;

    const profile = join(dir, 'lo-profile');
    const out = join(dir, 'csv');
    await run_(
      'soffice',
      [
        `-env:UserInstallation=file://${profile}`,
        '--headless',
        '--convert-to',
        'csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false',
        '--outdir',
        out,
        path,
      ],
      { timeout: 120_000 },
    );
    const rows = parseCsv(await readFile(join(out, 'run-2026-12-04.csv'), 'utf8'));
    expect(rows[0]).toEqual(['time', 'number', 'text']);
    expect(rows).toHaveLength(sent.length + 1);
    for (const [i, s] of sent.entries()) {
      const [time, number, text] = rows[i + 1]!;
      expect(time, `row ${i} time`).toBe(shown(paris(s.time), false));
      expect(Math.abs(Number(number) - s.number), `row ${i} number`).toBeLessThanOrEqual(
        Math.abs(s.number) * 1e-14,
      );
      expect(text, `row ${i} text`).toBe(s.text);
    }

    // openpyxl (pandas' reader): exact text, numbers and the local date-times.
    const [sheet] = await readWithOpenpyxl(path);
    expect(sheet!.rows[0]).toEqual(['time', 'number', 'text']);
    expect(sheet!.rows.slice(1)).toEqual(
      sent.map((s) => [new Date(paris(s.time)).toISOString().slice(0, 19), s.number, s.text]),
    );
  });
});
