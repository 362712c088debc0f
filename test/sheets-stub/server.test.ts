import { sheets, type sheets_v4 } from '@googleapis/sheets';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRange } from './a1.js';
import { DEFAULT_TOKEN, SheetsStub } from './server.js';

/** The stand-in itself, driven through the real googleapis client as the sink drives it. */

function client(stub: SheetsStub, token = DEFAULT_TOKEN): sheets_v4.Sheets {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: token });
  return sheets({ version: 'v4', auth, rootUrl: stub.url });
}

async function failure(promise: Promise<unknown>): Promise<{ status?: number; message: string }> {
  try {
    await promise;
  } catch (error) {
    const e = error as { status?: number; message: string };
    return { status: e.status, message: e.message };
  }
  throw new Error('expected the call to fail');
}

describe('sheets stub', () => {
  const stub = new SheetsStub({ writesPerWindow: 1000, readsPerWindow: 1000 });
  let api: sheets_v4.Sheets;

  beforeAll(async () => {
    await stub.start();
    api = client(stub);
  });
  afterAll(() => stub.stop());

  it('parses A1 ranges as Google does', () => {
    expect(parseRange("'My Sheet'!A1:C3")).toEqual({
      sheet: 'My Sheet',
      startRow: 1,
      startColumn: 1,
      endRow: 3,
      endColumn: 3,
    });
    expect(parseRange("'It''s'!B:B")).toMatchObject({ sheet: "It's", startColumn: 2, endColumn: 2 });
    expect(parseRange('Data')).toMatchObject({ sheet: 'Data', startRow: undefined });
    expect(parseRange('AA10')).toMatchObject({ sheet: undefined, startColumn: 27, startRow: 10 });
  });

  it('appends after the table with a percent-encoded range and reads it back', async () => {
    const id = stub.createSpreadsheet({ tabs: ['My Sheet'] });
    const first = await api.spreadsheets.values.append({
      spreadsheetId: id,
      range: "'My Sheet'!A1",
      valueInputOption: 'RAW',
      insertDataOption: 'INSERT_ROWS',
      requestBody: {
        values: [
          ['a', 1],
          ['b', 2],
        ],
      },
    });
    expect(first.data.updates).toMatchObject({
      updatedRange: "'My Sheet'!A1:B2",
      updatedRows: 2,
      updatedCells: 4,
    });
    const second = await api.spreadsheets.values.append({
      spreadsheetId: id,
      range: "'My Sheet'!A1",
      valueInputOption: 'RAW',
      requestBody: { values: [['c', 3]] },
    });
    expect(second.data.tableRange).toBe("'My Sheet'!A1:B2");
    expect(second.data.updates?.updatedRange).toBe("'My Sheet'!A3:B3");
    expect(stub.requests.at(-1)?.path).toContain('%27My%20Sheet%27%21A1:append');
    const got = await api.spreadsheets.values.get({ spreadsheetId: id, range: "'My Sheet'!A1:B10" });
    expect(got.data.values).toEqual([
      ['a', '1'],
      ['b', '2'],
      ['c', '3'],
    ]);
  });

  it('requires valueInputOption, and USER_ENTERED parses formulas unless escaped', async () => {
    const id = stub.createSpreadsheet();
    const missing = await failure(
      api.spreadsheets.values.batchUpdate({
        spreadsheetId: id,
        requestBody: { data: [{ range: 'Sheet1!A1', values: [['x']] }] },
      }),
    );
    expect(missing).toMatchObject({
      status: 400,
      message: "'valueInputOption' is required but not specified",
    });
    await api.spreadsheets.values.batchUpdate({
      spreadsheetId: id,
      requestBody: {
        valueInputOption: 'USER_ENTERED',
        data: [{ range: 'Sheet1!A1:C1', values: [['=1+1', "'=1+1", '42']] }],
      },
    });
    const updated = await api.spreadsheets.values.update({
      spreadsheetId: id,
      range: 'Sheet1!A2:B2',
      valueInputOption: 'RAW',
      requestBody: { values: [['=raw', true]] },
    });
    expect(updated.data).toMatchObject({ updatedRange: "'Sheet1'!A2:B2", updatedCells: 2 });
    const sheet = stub.sheet(id, 'Sheet1')!;
    expect(sheet.rows[1]).toEqual([{ value: '=raw' }, { value: true }]);
    expect(sheet.rows[0]?.[0]?.formula).toBe('=1+1');
    expect(sheet.rows[0]?.[1]).toEqual({ value: '=1+1' });
    expect(sheet.rows[0]?.[2]).toEqual({ value: 42 });
  });

  it('adds tabs, refuses a duplicate name, enforces grid limits and grows grids', async () => {
    const id = stub.createSpreadsheet();
    const added = await api.spreadsheets.batchUpdate({
      spreadsheetId: id,
      requestBody: {
        requests: [
          { addSheet: { properties: { title: 'dev-1', gridProperties: { rowCount: 3, columnCount: 2 } } } },
        ],
      },
    });
    const sheetId = added.data.replies?.[0]?.addSheet?.properties?.sheetId;
    expect(typeof sheetId).toBe('number');
    const duplicate = await failure(
      api.spreadsheets.batchUpdate({
        spreadsheetId: id,
        requestBody: { requests: [{ addSheet: { properties: { title: 'dev-1' } } }] },
      }),
    );
    expect(duplicate.status).toBe(400);
    expect(duplicate.message).toMatch(/A sheet with the name "dev-1" already exists/);
    const outside = await failure(
      api.spreadsheets.values.batchUpdate({
        spreadsheetId: id,
        requestBody: { valueInputOption: 'RAW', data: [{ range: "'dev-1'!A4:B4", values: [[1, 2]] }] },
      }),
    );
    expect(outside.message).toMatch(/exceeds grid limits. Max rows: 3, max columns: 2/);
    await api.spreadsheets.batchUpdate({
      spreadsheetId: id,
      requestBody: { requests: [{ appendDimension: { sheetId, dimension: 'ROWS', length: 5 } }] },
    });
    await api.spreadsheets.values.batchUpdate({
      spreadsheetId: id,
      requestBody: { valueInputOption: 'RAW', data: [{ range: "'dev-1'!A4:B4", values: [[1, 2]] }] },
    });
    const meta = await api.spreadsheets.get({ spreadsheetId: id, fields: 'sheets.properties' });
    const props = meta.data.sheets?.find((s) => s.properties?.title === 'dev-1')?.properties;
    expect(props?.gridProperties).toEqual({ rowCount: 8, columnCount: 2 });
  });

  it('refuses growth past the cell limit of a spreadsheet', async () => {
    const small = new SheetsStub({ maxCells: 30_000 });
    await small.start();
    try {
      const id = small.createSpreadsheet();
      const e = await failure(
        client(small).spreadsheets.batchUpdate({
          spreadsheetId: id,
          requestBody: { requests: [{ addSheet: { properties: { title: 'more' } } }] },
        }),
      );
      expect(e.message).toMatch(/above the limit of 30000 cells/);
      expect(small.spreadsheets.get(id)?.sheets).toHaveLength(1);
    } finally {
      await small.stop();
    }
  });

  it('checks the bearer token and the sharing of the spreadsheet', async () => {
    const id = stub.createSpreadsheet({ users: ['someone-else@example.com'] });
    expect(await failure(client(stub, 'wrong').spreadsheets.get({ spreadsheetId: id }))).toMatchObject({
      status: 401,
    });
    expect(await failure(api.spreadsheets.get({ spreadsheetId: id }))).toMatchObject({
      status: 403,
      message: 'The caller does not have permission',
    });
    expect(await failure(api.spreadsheets.get({ spreadsheetId: 'nope' }))).toMatchObject({ status: 404 });
  });

  it('answers 429 past the write quota of a user, and googleapis does not retry the POST', async () => {
    const limited = new SheetsStub({ writesPerWindow: 2, windowMs: 60_000, retryAfterHeader: true });
    await limited.start();
    try {
      const id = limited.createSpreadsheet();
      const c = client(limited);
      const write = () =>
        c.spreadsheets.values.append({
          spreadsheetId: id,
          range: 'Sheet1!A1',
          valueInputOption: 'RAW',
          requestBody: { values: [['x']] },
        });
      await write();
      await write();
      const e = await failure(write());
      expect(e.status).toBe(429);
      expect(e.message).toMatch(/Quota exceeded for quota metric 'Write requests'/);
      expect(limited.writes()).toHaveLength(3);
      expect(limited.values(id, 'Sheet1')).toHaveLength(2);
    } finally {
      await limited.stop();
    }
  });

  it('can apply a write and lose the answer, fail with 500s, and hold answers', async () => {
    const id = stub.createSpreadsheet();
    const write = (v: string) =>
      api.spreadsheets.values.batchUpdate({
        spreadsheetId: id,
        requestBody: { valueInputOption: 'RAW', data: [{ range: `Sheet1!A${v}`, values: [[v]] }] },
      });
    stub.loseResponses(1);
    await expect(write('1')).rejects.toThrow();
    expect(stub.values(id, 'Sheet1')).toEqual([['1']]);
    stub.failNext(1, 503);
    expect(await failure(write('2'))).toMatchObject({ status: 503 });
    expect(stub.values(id, 'Sheet1')).toEqual([['1']]);
    stub.hold();
    let answered = false;
    const held = write('2').then(() => (answered = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(answered).toBe(false);
    expect(stub.values(id, 'Sheet1')).toEqual([['1'], ['2']]);
    stub.release();
    await held;
    expect(answered).toBe(true);
  });
});
