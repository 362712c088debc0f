import { defineSink } from '../../src/sdk/index.js';
import { ExcelSink } from './sink.js';
import { excelSinkConfig } from './spec.js';

export { excelSinkConfig, type ExcelSinkConfig, EXCEL_MAX_ROWS } from './spec.js';
export { ExcelSink, type ExcelSinkOptions, STATE_FOLDER } from './sink.js';
export { validSheetName, SheetNames } from './naming.js';

export const excelSink = defineSink({
  type: 'excel',
  title: 'Excel files',
  summary:
    'Writes rows into .xlsx workbooks that always open: one file per period (hour, day, week, month) or row count, one sheet per key, typed columns; rows are acknowledged once journaled on disk.',
  config: excelSinkConfig,
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
  // A batch is acknowledged once its rows are flushed to the journal on disk.
  delivery: () => 'at-least-once',
  // A batch delivered again (same message ids and times) is recognised and not written twice.
  idempotent: () => true,
  create: (config, ctx) => new ExcelSink(config, ctx),
});
