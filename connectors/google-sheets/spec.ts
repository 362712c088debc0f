import { z } from 'zod';
import { columnsConfig, compileColumns, templateProblem, duration, secret } from '../../src/sdk/index.js';

/** The config of the `google-sheets` sink: the one place it is defined. */

export const SHEETS_SCOPE = 'https://www.googleapis.com/auth/spreadsheets';
export const GOOGLE_ROOT_URL = 'https://sheets.googleapis.com/';
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

/** Google's limit per spreadsheet. */
export const MAX_CELLS = 10_000_000;

const serviceAccountAuth = z
  .strictObject({
    serviceAccountKey: secret(
      'The JSON key of a service account (the whole file, e.g. `${file:/run/secrets/sheets-key.json}`).',
    ),
  })
  .describe('A service account; share the spreadsheet with its e-mail address as Editor.');

const oauthAuth = z
  .strictObject({
    clientId: z.string().min(1).describe('OAuth client id (from a Google Cloud "Desktop app" OAuth client).'),
    clientSecret: secret('OAuth client secret.'),
    refreshToken: secret('OAuth refresh token of the user, obtained once with the spreadsheets scope.'),
    tokenUrl: z
      .url()
      .default(GOOGLE_TOKEN_URL)
      .describe('Token endpoint that exchanges the refresh token for access tokens.'),
  })
  .describe("A user's OAuth refresh token; the rows are written as that user.");

export const googleSheetsSinkConfig = z
  .strictObject({
    spreadsheetId: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'expected the id from the spreadsheet URL (…/spreadsheets/d/<id>/edit)')
      .describe('The spreadsheet id, from its URL: `https://docs.google.com/spreadsheets/d/<id>/edit`.'),
    auth: z
      .union([serviceAccountAuth, oauthAuth])
      .describe(
        'Credentials: `serviceAccountKey`, or `clientId` + `clientSecret` + `refreshToken`. Only the spreadsheets scope is requested.',
      ),
    tab: z
      .string()
      .min(1)
      .superRefine((t, ctx) => {
        const problem = templateProblem(t);
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
    valueInputOption: z
      .enum(['RAW', 'USER_ENTERED'])
      .default('RAW')
      .describe(
        'RAW stores values as they are. USER_ENTERED lets Sheets parse text as if typed (numbers, dates); text that looks like a formula (= + - @) is still stored as text.',
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
      'How long one request may take; past it the batch is retried (it rewrites the same cells, so nothing is duplicated).',
    ).prefault('30s'),
    probeInterval: duration(
      'How often the sink checks that the API host is reachable (a TCP connection, no API quota), so readiness follows outages while idle.',
    ).prefault('15s'),
    reservationTtl: duration(
      'How long the rows reserved for a batch are remembered, so that a retry of the same batch rewrites the same rows instead of adding new ones. Keep it longer than a batch can wait for retries.',
    ).prefault('7d'),
    rootUrl: z
      .url()
      .default(GOOGLE_ROOT_URL)
      .describe(
        'Root URL of the Sheets API, for a proxy or a test stand-in. A path in it is ignored (the client builds /v4/... from the host).',
      ),
  })
  .superRefine((config, ctx) => {
    if (config.columns) {
      try {
        compileColumns(config.columns);
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: ['columns'], message: (error as Error).message });
      }
    }
    if (config.quota.burst > config.quota.writesPerMinute)
      ctx.addIssue({
        code: 'custom',
        path: ['quota', 'burst'],
        message: 'burst can not exceed writesPerMinute',
      });
  })
  .describe('Writes rows to tabs of a Google Sheets spreadsheet.');

export type GoogleSheetsSinkConfig = z.output<typeof googleSheetsSinkConfig>;
export type GoogleSheetsAuthConfig = GoogleSheetsSinkConfig['auth'];
