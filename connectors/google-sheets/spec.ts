import { z } from 'zod';
import {
  templateProblem,
  duration,
  isTimeZone,
  secret,
  builtSchema,
  lazySchema,
} from '../../src/sdk/index.js';
import { columnsConfig, compileColumns } from '../../src/sdk/columns.js';
import type { SinkSpec } from '../../src/sdk/index.js';
import { WINDOW_PART, withoutWindowParts } from './window-parts.js';

/** The config of the `google-sheets` sink: the one place it is defined. */

export const SHEETS_SCOPE = 'https://www.googleapis.com/auth/spreadsheets';
export const GOOGLE_ROOT_URL = 'https://sheets.googleapis.com/';
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const GOOGLE_IAM_CREDENTIALS_URL = 'https://iamcredentials.googleapis.com';
/** The header of the column that holds each row's batch id (how a retried batch is recognised). */
export const DEFAULT_BATCH_COLUMN = 'passerelle batch';

/** Google's limit per spreadsheet. */
export const MAX_CELLS = 10_000_000;

const impersonation = lazySchema(() => ({
  impersonate: z
    .email()
    .optional()
    .describe(
      'Write as this service account, impersonated with the credentials above (they need the Service Account Token Creator role on it). Share the spreadsheet with this account.',
    ),
  iamCredentialsUrl: z
    .url()
    .default(GOOGLE_IAM_CREDENTIALS_URL)
    .describe('The IAM Service Account Credentials API that issues the impersonated tokens.'),
}));

const serviceAccountAuth = lazySchema(() =>
  z
    .strictObject({
      serviceAccountKey: secret(
        'The JSON key of a service account (the whole file, e.g. `${file:/run/secrets/sheets-key.json}`).',
      ),
      ...impersonation,
    })
    .describe('A service account key; share the spreadsheet with its e-mail address as Editor.'),
);

const oauthAuth = lazySchema(() =>
  z
    .strictObject({
      clientId: z
        .string()
        .min(1)
        .describe('OAuth client id (from a Google Cloud "Desktop app" OAuth client).'),
      clientSecret: secret('OAuth client secret.'),
      refreshToken: secret('OAuth refresh token of the user, obtained once with the spreadsheets scope.'),
      tokenUrl: z
        .url()
        .default(GOOGLE_TOKEN_URL)
        .describe('Token endpoint that exchanges the refresh token for access tokens.'),
    })
    .describe("A user's OAuth refresh token; the rows are written as that user."),
);

const applicationDefaultAuth = lazySchema(() =>
  z
    .strictObject({
      applicationDefault: z
        .literal(true)
        .describe(
          'Application Default Credentials: the key or credentials file named by `GOOGLE_APPLICATION_CREDENTIALS`, else the gcloud file (`gcloud auth application-default login`), else the metadata server (GKE Workload Identity, Compute Engine, Cloud Run).',
        ),
      tokenUrl: z
        .url()
        .default(GOOGLE_TOKEN_URL)
        .describe('Token endpoint for user credentials found by ADC (an `authorized_user` file).'),
      ...impersonation,
    })
    .describe('Application Default Credentials, optionally impersonating a service account.'),
);

export const googleSheetsSinkConfig = lazySchema(() =>
  z
    .strictObject({
      spreadsheetId: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/, 'expected the id from the spreadsheet URL (…/spreadsheets/d/<id>/edit)')
        .describe('The spreadsheet id, from its URL: `https://docs.google.com/spreadsheets/d/<id>/edit`.'),
      auth: z
        .union([builtSchema(serviceAccountAuth), builtSchema(oauthAuth), builtSchema(applicationDefaultAuth)])
        .describe(
          'Credentials: `applicationDefault: true`, `serviceAccountKey`, or `clientId` + `clientSecret` + `refreshToken`; `impersonate` (with ADC or a key) writes as another service account. Only the spreadsheets scope is requested for writing.',
        ),
      tab: z
        .string()
        .min(1)
        .superRefine((t, ctx) => {
          const problem = templateProblem(withoutWindowParts(t));
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        })
        .default('{{ pipeline }}')
        .describe(
          'Tab (sheet) name, a template: `{{ payload.device }}`, `{{ date:YYYY-MM-DD }}`, `{{ topic[1] }} {{ date:YYYY-MM }}`. Missing tabs are created. Control characters are replaced, names are cut to 92 characters, an empty name becomes `data`.',
        ),
      columns: columnsConfig
        .optional()
        .describe(
          'The columns, in order (`header`, `value`, optional `type` and `format`). Default: the message time, then every scalar payload field, added as they are first seen (the header row is extended, never reordered).',
        ),
      timeZone: z
        .string()
        .default('UTC')
        .refine((v) => isTimeZone(v), 'an IANA time zone such as Europe/Paris or UTC')
        .describe(
          'Time zone of the date-time cells and of the `{{ date:... }}` parts of `tab` (Sheets date-times have no zone: cells show this local time).',
        ),
      rotate: z
        .enum(['none', 'run'])
        .default('none')
        .describe(
          "`run`: one tab per run of a scheduled pipeline, named by `tab` with the run's window (`{{ date:... }}` or `{{ window.start:... }}` is its start, `{{ window.end:... }}` its end), that appears only once the run is complete; a rerun replaces it, and `_runs` lists the runs written. Only in a pipeline with `schedule`.",
        ),
      batchIdColumn: z
        .string()
        .min(1)
        .default(DEFAULT_BATCH_COLUMN)
        .describe(
          'Header of the column where each row carries the id of its batch: a batch retried after an unknown outcome (lost answer, timeout) is looked up there instead of appended twice. Hide the column if it is in the way; do not delete it.',
        ),
      valueInputOption: z
        .enum(['RAW', 'USER_ENTERED'])
        .default('RAW')
        .describe(
          'RAW stores values as they are (all tabs of a flush in one request, number formats per cell). USER_ENTERED lets Sheets parse text as if typed (numbers, dates), with one append request per tab and flush; text that looks like a formula (= + - @) is still stored as text.',
        ),
      maxRowsPerTab: z
        .number()
        .int()
        .min(2)
        .max(MAX_CELLS)
        .default(100_000)
        .describe(
          'Data rows per tab, at most; past it rows go to a new tab `<name> (2)`, `<name> (3)`... Tabs also roll over before the 10,000,000 cell limit of a spreadsheet is reached.',
        ),
      quota: z
        .strictObject({
          writesPerMinute: z
            .number()
            .int()
            .positive()
            .max(300)
            .default(40)
            .describe(
              'Write requests per minute for the account, shared by every replica through Redis (Google allows 60 per user, 300 per project).',
            ),
          burst: z
            .number()
            .int()
            .positive()
            .default(10)
            .describe('Write requests that may be sent at once after a quiet period.'),
          backoff: duration(
            'How long to pause all writes of the account after a 429 answer without Retry-After (Google refills quotas every minute).',
          ).prefault('60s'),
        })
        .prefault({})
        .describe('Client-side rate limit, so that Google never has to refuse.'),
      requestTimeout: duration(
        'How long one request may take; past it the batch is retried (the retry first looks for its batch id in the tab, so nothing is duplicated).',
      ).prefault('30s'),
      probeInterval: duration(
        'How often the sink checks that the API host is reachable (a TCP connection, no API quota), so readiness follows outages while idle.',
      ).prefault('15s'),
      reservationTtl: duration(
        'How long the sink remembers each batch it sent (its tab and whether Google confirmed it), so that a retry skips it or checks the tab for it. Keep it longer than a batch can wait for retries.',
      ).prefault('7d'),
      rootUrl: z
        .url()
        .default(GOOGLE_ROOT_URL)
        .describe(
          'Root URL of the Sheets API, for a proxy or a test stand-in. A path in it is ignored (the client builds /v4/... from the host).',
        ),
    })
    .superRefine((config, ctx) => {
      if (config.rotate !== 'run' && new RegExp(WINDOW_PART.source).test(config.tab))
        ctx.addIssue({
          code: 'custom',
          path: ['tab'],
          message:
            '`{{ window.start:... }}` and `{{ window.end:... }}` name the run of `rotate: run`: use `{{ date:... }}`',
        });
      if (config.columns) {
        try {
          compileColumns(config.columns);
        } catch (error) {
          ctx.addIssue({ code: 'custom', path: ['columns'], message: (error as Error).message });
        }
        const clash = config.columns.findIndex((c) => c.header === config.batchIdColumn);
        if (clash >= 0)
          ctx.addIssue({
            code: 'custom',
            path: ['columns', clash, 'header'],
            message: `"${config.batchIdColumn}" is the batch id column (batchIdColumn): choose another header`,
          });
      }
      if (config.quota.burst > config.quota.writesPerMinute)
        ctx.addIssue({
          code: 'custom',
          path: ['quota', 'burst'],
          message: 'burst can not exceed writesPerMinute',
        });
    })
    .describe('Writes rows to tabs of a Google Sheets spreadsheet.'),
);

export type GoogleSheetsSinkConfig = z.output<typeof googleSheetsSinkConfig>;
export type GoogleSheetsAuthConfig = GoogleSheetsSinkConfig['auth'];

export const googleSheetsSinkSpec: SinkSpec<typeof googleSheetsSinkConfig> = {
  kind: 'sink',
  type: 'google-sheets',
  title: 'Google Sheets',
  summary:
    'Appends rows to tabs of a Google spreadsheet (tab per device, per day...) without ever overwriting what people typed, batched into one request per flush, within a write quota per Google identity; every row carries its batch id, so a retried batch is found instead of appended twice.',
  get config() {
    return builtSchema(googleSheetsSinkConfig);
  },
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
  runOnly: (config) =>
    config.rotate === 'run'
      ? { key: 'rotate', reason: 'rotate: run writes one tab per run of a scheduled pipeline' }
      : undefined,
  // One write request per flush: a few seconds of rows (Google allows ~60 writes per minute).
  batchDefaults: { count: 5000, maxWait: '5s' },
  delivery: () => 'at-least-once',
  // A redelivered batch (same message ids) has the same batch ids: found in the tab, not appended again.
  idempotent: () => true,
  load: async () => (await import('./index.js')).googleSheetsSink,
};
