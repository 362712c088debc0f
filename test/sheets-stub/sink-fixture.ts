import { OAuth2Client } from 'google-auth-library';
import { GoogleSheetsSink } from '../../connectors/google-sheets/sink.js';
import { googleSheetsSinkConfig } from '../../connectors/google-sheets/spec.js';
import { createMessage, type Message } from '../../src/sdk/index.js';
import { createFakeContext, type FakeContext } from '../conformance/context.js';
import { DEFAULT_TOKEN, DEFAULT_USER, type SheetsStub } from './server.js';

/** A `google-sheets` sink pointed at a stub, with a static bearer token (never ADC). */
export function stubSink(
  stub: SheetsStub,
  spreadsheetId: string,
  overrides: Record<string, unknown> = {},
  options: { ctx?: FakeContext; token?: string | null } = {},
): { sink: GoogleSheetsSink; ctx: FakeContext } {
  const config = googleSheetsSinkConfig.parse({
    spreadsheetId,
    auth: { serviceAccountKey: '{"unused": true}' },
    rootUrl: stub.url,
    probeInterval: '100ms',
    requestTimeout: '5s',
    quota: { writesPerMinute: 300, burst: 300 },
    ...overrides,
  });
  const ctx = options.ctx ?? createFakeContext();
  let auth;
  if (options.token !== null) {
    const client = new OAuth2Client();
    client.setCredentials({ access_token: options.token ?? DEFAULT_TOKEN });
    // The quota is per Google identity and process: one identity per stand-in keeps tests apart.
    auth = { client, account: DEFAULT_USER.replace('@', `+${stub.port}@`) };
  }
  return { sink: new GoogleSheetsSink(config, ctx, auth ? { auth } : {}), ctx };
}

let seq = 0;

/** Messages `{ device, value, ... }` with fixed ids, one second apart from 2024-05-01T12:00:00Z. */
export function readings(
  n: number,
  prefix = `m${++seq}`,
  extra: (i: number) => Record<string, unknown> = () => ({}),
): Message[] {
  return Array.from({ length: n }, (_, i) =>
    createMessage({
      id: `${prefix}-${i}`,
      payload: { value: `${prefix}-${i}`, n: i, ...extra(i) },
      time: Date.UTC(2024, 4, 1, 12, 0, i),
    }),
  );
}

/** Every value of the column named `header` in the tabs of the spreadsheet (data rows only). */
export function columnValues(stub: SheetsStub, spreadsheetId: string, header = 'value'): unknown[] {
  const book = stub.spreadsheets.get(spreadsheetId);
  const out: unknown[] = [];
  for (const sheet of book?.sheets ?? []) {
    const rows = stub.values(spreadsheetId, sheet.title);
    const col = (rows[0] ?? []).indexOf(header);
    if (col < 0) continue;
    for (const row of rows.slice(1)) if (row[col] !== null && row[col] !== undefined) out.push(row[col]);
  }
  return out;
}

/** Keeps calling `write` as the outbox would (honouring retryAfterMs), until it succeeds. */
export async function writeUntilDone(
  sink: GoogleSheetsSink,
  batch: Message[],
  attempts = 20,
): Promise<Error[]> {
  const errors: Error[] = [];
  for (let i = 0; i < attempts; i++) {
    try {
      await sink.write(batch, AbortSignal.timeout(30_000));
      return errors;
    } catch (error) {
      errors.push(error as Error);
      const after = (error as { retryAfterMs?: number }).retryAfterMs ?? 150;
      await new Promise((r) => setTimeout(r, after));
    }
  }
  throw new Error(`still failing after ${attempts} attempts: ${errors.map((e) => e.message).join(' | ')}`);
}
