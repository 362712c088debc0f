import { defineSink } from '../../src/sdk/index.js';
import { GoogleSheetsSink } from './sink.js';
import { googleSheetsSinkConfig } from './spec.js';

export { GoogleSheetsSink, type GoogleSheetsSinkOptions } from './sink.js';
export { googleSheetsSinkConfig, type GoogleSheetsSinkConfig } from './spec.js';

export const googleSheetsSink = defineSink({
  type: 'google-sheets',
  title: 'Google Sheets',
  summary:
    'Appends rows to tabs of a Google spreadsheet (tab per device, per day...) without ever overwriting what people typed, batched into one request per flush, within a write quota per Google identity; every row carries its batch id, so a retried batch is found instead of appended twice.',
  config: googleSheetsSinkConfig,
  examples: [
    {
      spreadsheetId: '1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789',
      auth: { serviceAccountKey: '${file:/run/secrets/sheets-key.json}' },
      tab: '{{ topic[1] }} {{ date:YYYY-MM-DD }}',
      timeZone: 'Europe/Berlin',
    },
    {
      spreadsheetId: '1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789',
      auth: { applicationDefault: true, impersonate: 'sheets-writer@my-project.iam.gserviceaccount.com' },
    },
    {
      spreadsheetId: '1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789',
      auth: {
        clientId: '123456789-abc.apps.googleusercontent.com',
        clientSecret: '${env:SHEETS_CLIENT_SECRET}',
        refreshToken: '${env:SHEETS_REFRESH_TOKEN}',
      },
      columns: [
        { header: 'time', value: 'time' },
        { header: 'device', value: 'topic[1]', type: 'text' },
        { header: 'temperature', value: 'payload.temperature', type: 'number', format: '0.0' },
      ],
      quota: { writesPerMinute: 30 },
    },
  ],
  // One write request per flush: a few seconds of rows (Google allows ~60 writes per minute).
  batchDefaults: { count: 5000, maxWait: '5s' },
  delivery: () => 'at-least-once',
  // A redelivered batch (same message ids) has the same batch ids: found in the tab, not appended again.
  idempotent: () => true,
  create: (config, ctx) => new GoogleSheetsSink(config, ctx),
});
