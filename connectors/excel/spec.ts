import { z } from 'zod';
import { duration, isTimeZone, builtSchema, lazySchema } from '../../src/sdk/index.js';
import { columnsConfig } from '../../src/sdk/columns.js';
import type { SinkSpec } from '../../src/sdk/index.js';

/** Excel's own limit: 1,048,576 rows per worksheet, the header row included. */
export const EXCEL_MAX_ROWS = 1_048_576;

export const ROTATION_PERIODS = ['hour', 'day', 'week', 'month', 'none', 'run'] as const;
export type RotationPeriod = (typeof ROTATION_PERIODS)[number];

export const excelRetentionConfig = lazySchema(() =>
  z
    .strictObject({
      maxAge: duration(
        'Finished files older than this (by modification time) are deleted, or moved to `archiveDirectory`. E.g. `30d`.',
      ),
      archiveDirectory: z
        .string()
        .min(1)
        .optional()
        .describe(
          'Move old files here instead of deleting them (created if missing). A relative path is relative to the working directory.',
        ),
    })
    .describe('Clean-up of old files; off when not set. Files still being written are never touched.'),
);

export const excelSinkConfig = lazySchema(() =>
  z.strictObject({
    directory: z
      .string()
      .min(1)
      .describe(
        'Folder of the .xlsx files (created if missing). The sink keeps its journals in a `.passerelle-excel` folder inside it.',
      ),
    fileName: z
      .string()
      .min(1)
      .default('{{pipeline}}-{{date:YYYY-MM-DD}}.xlsx')
      .refine((v) => !/[/\\]/.test(v.replace(/\{\{[^}]*\}\}/g, '')), 'a file name, not a path: no / or \\')
      .describe(
        "File name template. `{{date:FORMAT}}` is the start of the period in `timeZone` (YYYY MM DD HH mm), `{{pipeline}}` the pipeline name; message values (`{{payload.site}}`) split the data into several files. `.xlsx` is added when missing. With `rotate: run`, `{{window.start:FORMAT}}` (same as `date:`) and `{{window.end:FORMAT}}` are the run's window (the end is exclusive).",
      ),
    rotate: z
      .enum(ROTATION_PERIODS)
      .default('day')
      .describe(
        "Start a new file every hour, day, week (ISO, from Monday) or month in `timeZone`, by the time rows are written; `none` keeps one file (rotate with `maxRowsPerFile`); `run` writes one file per run of a scheduled pipeline, named from the run's window, that appears only once the run is complete (a rerun replaces it).",
      ),
    timeZone: z
      .string()
      .default('UTC')
      .refine((v) => isTimeZone(v), 'an IANA time zone such as Europe/Paris or UTC')
      .describe(
        'Time zone of the periods, the `{{date:}}` parts of the file name and the date-time cells (Excel dates have no zone: they show this local time).',
      ),
    maxRowsPerFile: z
      .int()
      .positive()
      .optional()
      .describe(
        'Start a new file (`name-2.xlsx`, `name-3.xlsx`...) once a file holds this many data rows. Keeps files and their rebuilds small.',
      ),
    sheet: z
      .string()
      .min(1)
      .default('data')
      .describe(
        'Worksheet name template, e.g. `{{topic[1]}}` or `{{meta.opcua.nodeId}}`: one sheet per key. Names are made valid for Excel (31 characters, no []:*?/\\) and kept stable.',
      ),
    columns: columnsConfig.optional(),
    maxRowsPerSheet: z
      .int()
      .min(2)
      .max(EXCEL_MAX_ROWS)
      .default(EXCEL_MAX_ROWS)
      .describe(
        'Rows per worksheet, header included; a key continues on a new sheet (`name (2)`) before the limit. Lower it only to test the rollover.',
      ),
    flushEvery: duration(
      'How often the .xlsx file of the open period is rebuilt from the journal: the file on disk is at most this much behind the acknowledged rows.',
    ).prefault('1m'),
    compressionLevel: z
      .int()
      .min(0)
      .max(9)
      .default(1)
      .describe('zlib level of the .xlsx zip: 1 is the fastest, 9 the smallest and slowest.'),
    manifest: z
      .boolean()
      .default(false)
      .describe(
        'Write `<file>.manifest.json` beside each file: rows per sheet and the SHA-256 of the file, for integrity checks.',
      ),
    retention: excelRetentionConfig.optional(),
    maxOpenFiles: z
      .int()
      .min(1)
      .max(4096)
      .default(64)
      .describe(
        'Journals kept open at once (one per file being written); beyond it the least recently written is closed and reopened when needed. Keeps file descriptors bounded when `fileName` splits by message values.',
      ),
  }),
);

export type ExcelSinkConfig = z.output<typeof excelSinkConfig>;

export const excelSinkSpec: SinkSpec<typeof excelSinkConfig> = {
  kind: 'sink',
  type: 'excel',
  title: 'Excel files',
  summary:
    'Writes rows into .xlsx workbooks that always open: one file per period (hour, day, week, month) or row count, one sheet per key, typed columns; rows are acknowledged once journaled on disk.',
  get config() {
    return builtSchema(excelSinkConfig);
  },
  examples: [
    { directory: '/var/lib/passerelle/exports' },
    {
      directory: '/var/lib/passerelle/exports',
      fileName: 'plant-{{date:YYYY-MM}}.xlsx',
      rotate: 'month',
      timeZone: 'Europe/Berlin',
      sheet: '{{topic[1]}}',
      columns: [
        { header: 'time', value: 'time', format: 'yyyy-mm-dd hh:mm:ss' },
        { header: 'temperature', value: 'payload.temperature', type: 'number', format: '0.0' },
        { header: 'status', value: 'payload.status', type: 'text' },
      ],
      retention: { maxAge: '90d', archiveDirectory: '/var/lib/passerelle/archive' },
      manifest: true,
    },
  ],
  runOnly: (config) =>
    config.rotate === 'run'
      ? { key: 'rotate', reason: 'rotate: run writes one file per run of a scheduled pipeline' }
      : undefined,
  // A batch is acknowledged once its rows are flushed to the journal on disk.
  delivery: () => 'at-least-once',
  // A batch delivered again (same message ids and times) is recognised and not written twice.
  idempotent: () => true,
  load: async () => (await import('./index.js')).excelSink,
};
