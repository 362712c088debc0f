import { sheets, type sheets_v4 } from '@googleapis/sheets';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../conformance/context.js';
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
    // The answer is kept back at the stand-in: the client can not have it.
    await waitFor(() => stub.heldAnswers === 1, 'the answer held');
    expect(answered).toBe(false);
    expect(stub.values(id, 'Sheet1')).toEqual([['1'], ['2']]);
    stub.release();
    await held;
    expect(answered).toBe(true);
  });

  it('values.append grows the grid, and INSERT_ROWS moves the rows below the table down', async () => {
    const id = stub.createSpreadsheet();
    const book = stub.spreadsheets.get(id)!;
    await api.spreadsheets.batchUpdate({
      spreadsheetId: id,
      requestBody: {
        requests: [
          { addSheet: { properties: { title: 'small', gridProperties: { rowCount: 2, columnCount: 2 } } } },
        ],
      },
    });
    const append = (values: unknown[][], insertDataOption?: string) =>
      api.spreadsheets.values.append({
        spreadsheetId: id,
        range: 'small!A1',
        valueInputOption: 'RAW',
        ...(insertDataOption ? { insertDataOption } : {}),
        requestBody: { values },
      });
    // OVERWRITE at the end of the sheet still adds the rows and columns it needs (as Google documents).
    await append([
      ['a', 1, 'x'],
      ['b', 2, 'y'],
      ['c', 3, 'z'],
    ]);
    const sheet = book.sheets.find((t) => t.title === 'small')!;
    expect([sheet.rowCount, sheet.columnCount]).toEqual([3, 3]);
    // A note typed after a gap: the table ends at row 3, so the next append goes to row 4...
    stub.typeRow(id, 'small', 3, ['c', 3, 'z']);
    sheet.rowCount = 6;
    stub.typeRow(id, 'small', 5, ['note']);
    const inserted = await append([['d'], ['e']], 'INSERT_ROWS');
    expect(inserted.data.updates?.updatedRange).toBe("'small'!A4:A5");
    // ...and with INSERT_ROWS the note moves down instead of being overwritten.
    expect(stub.values(id, 'small').map((r) => r[0] ?? null)).toEqual([
      'a',
      'b',
      'c',
      'd',
      'e',
      null,
      'note',
    ]);
    expect(sheet.rowCount).toBe(8);
    const overwrite = await append([['f'], ['g']], 'OVERWRITE');
    // OVERWRITE writes over whatever follows the table: here the note (why the sink never uses it).
    expect(overwrite.data.updates?.updatedRange).toBe("'small'!A6:A7");
    expect(stub.values(id, 'small').map((r) => r[0])).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  });

  it('values.update never grows the grid: past it, 400 "exceeds grid limits"', async () => {
    const id = stub.createSpreadsheet();
    const outside = await failure(
      api.spreadsheets.values.update({
        spreadsheetId: id,
        range: 'Sheet1!A1001',
        valueInputOption: 'RAW',
        requestBody: { values: [['x']] },
      }),
    );
    expect(outside).toMatchObject({ status: 400 });
    expect(outside.message).toMatch(/exceeds grid limits. Max rows: 1000, max columns: 26/);
  });

  it('appendCells writes after the last row with data, grows the grid, and keeps formats per cell', async () => {
    const id = stub.createSpreadsheet();
    const sheetId = stub.sheet(id, 'Sheet1')!.sheetId;
    stub.typeRow(id, 'Sheet1', 1, ['header']);
    stub.typeRow(id, 'Sheet1', 999, ['far down']);
    await api.spreadsheets.batchUpdate({
      spreadsheetId: id,
      requestBody: {
        requests: [
          {
            appendCells: {
              sheetId,
              rows: [1, 2, 3].map((n) => ({
                values: [
                  {
                    userEnteredValue: { numberValue: 45413 + n },
                    userEnteredFormat: { numberFormat: { type: 'DATE_TIME', pattern: 'yyyy-mm-dd' } },
                  },
                  { userEnteredValue: { stringValue: '=not a formula' } },
                  {},
                  { userEnteredValue: { boolValue: n === 2 } },
                ],
              })),
              fields: 'userEnteredValue,userEnteredFormat.numberFormat',
            },
          },
        ],
      },
    });
    const sheet = stub.sheet(id, 'Sheet1')!;
    expect(sheet.rowCount).toBe(1002);
    expect(stub.values(id, 'Sheet1').slice(998)).toEqual([
      ['far down'],
      [45414, '=not a formula', null, false],
      [45415, '=not a formula', null, true],
      [45416, '=not a formula', null, false],
    ]);
    expect(stub.format(id, 'Sheet1', 1000, 1)).toBe('yyyy-mm-dd');
    expect(stub.format(id, 'Sheet1', 1000, 2)).toBeUndefined();
    expect(sheet.rows.flat().some((c) => c?.formula)).toBe(false);
    // A value written later keeps the cell's format; repeatCell formats a range of cells.
    await api.spreadsheets.values.update({
      spreadsheetId: id,
      range: 'Sheet1!A1000',
      valueInputOption: 'RAW',
      requestBody: { values: [[45500]] },
    });
    expect(stub.format(id, 'Sheet1', 1000, 1)).toBe('yyyy-mm-dd');
    await api.spreadsheets.batchUpdate({
      spreadsheetId: id,
      requestBody: {
        requests: [
          {
            repeatCell: {
              range: { sheetId, startRowIndex: 1, endRowIndex: 3, startColumnIndex: 3, endColumnIndex: 4 },
              cell: { userEnteredFormat: { numberFormat: { type: 'NUMBER', pattern: '0.0' } } },
              fields: 'userEnteredFormat.numberFormat',
            },
          },
        ],
      },
    });
    expect([2, 3, 4].map((r) => stub.format(id, 'Sheet1', r, 4))).toEqual(['0.0', '0.0', undefined]);
  });

  it('applies a batchUpdate atomically: a failing request leaves every earlier one undone', async () => {
    const id = stub.createSpreadsheet();
    const sheetId = stub.sheet(id, 'Sheet1')!.sheetId;
    const e = await failure(
      api.spreadsheets.batchUpdate({
        spreadsheetId: id,
        requestBody: {
          requests: [
            { addSheet: { properties: { title: 'new' } } },
            {
              appendCells: {
                sheetId,
                rows: [{ values: [{ userEnteredValue: { stringValue: 'x' } }] }],
                fields: '*',
              },
            },
            { appendDimension: { sheetId: 424242, dimension: 'ROWS', length: 1 } },
          ],
        },
      }),
    );
    expect(e.message).toMatch(/Invalid requests\[2\]\.appendDimension: No grid with id: 424242/);
    expect(stub.spreadsheets.get(id)?.sheets.map((t) => t.title)).toEqual(['Sheet1']);
    expect(stub.values(id, 'Sheet1')).toEqual([]);
  });

  it('hides and shows columns with updateDimensionProperties, inside the grid only, atomically', async () => {
    const id = stub.createSpreadsheet();
    const sheetId = stub.sheet(id, 'Sheet1')!.sheetId;
    const hide = (startIndex: number, endIndex: number, hiddenByUser = true) => ({
      updateDimensionProperties: {
        range: { sheetId, dimension: 'COLUMNS', startIndex, endIndex },
        properties: { hiddenByUser },
        fields: 'hiddenByUser',
      },
    });
    await api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests: [hide(2, 4)] } });
    expect(stub.sheet(id, 'Sheet1')?.hiddenColumns).toEqual(new Set([2, 3]));
    const e = await failure(
      api.spreadsheets.batchUpdate({
        spreadsheetId: id,
        requestBody: { requests: [hide(2, 3, false), hide(25, 27)] },
      }),
    );
    expect(e.message).toMatch(/Invalid requests\[1\]\.updateDimensionProperties: Range exceeds grid limits/);
    expect(stub.sheet(id, 'Sheet1')?.hiddenColumns).toEqual(new Set([2, 3]));
  });

  it('refuses more than 18,278 columns in a tab', async () => {
    const id = stub.createSpreadsheet();
    const sheetId = stub.sheet(id, 'Sheet1')!.sheetId;
    const wide = await failure(
      api.spreadsheets.batchUpdate({
        spreadsheetId: id,
        requestBody: {
          requests: [{ appendDimension: { sheetId, dimension: 'COLUMNS', length: 18_278 - 26 + 1 } }],
        },
      }),
    );
    expect(wide.message).toMatch(/above the limit of 18278 columns/);
    const append = await failure(
      api.spreadsheets.values.append({
        spreadsheetId: id,
        range: 'Sheet1!ZZZ1',
        valueInputOption: 'RAW',
        requestBody: { values: [['fits', 'one too many']] },
      }),
    );
    expect(append.message).toMatch(/above the limit of 18278 columns/);
  });

  it('records the size of every request, and can refuse large bodies', async () => {
    const small = new SheetsStub({ maxRequestBytes: 1000 });
    await small.start();
    try {
      const id = small.createSpreadsheet();
      const write = (text: string) =>
        client(small).spreadsheets.values.update({
          spreadsheetId: id,
          range: 'Sheet1!A1',
          valueInputOption: 'RAW',
          requestBody: { values: [[text]] },
        });
      await write('short');
      expect(small.requests.at(-1)?.bytes).toBeGreaterThan(5);
      expect(await failure(write('x'.repeat(2000)))).toMatchObject({ status: 413 });
    } finally {
      await small.stop();
    }
  });

  it('serves the metadata server only to requests with Metadata-Flavor: Google', async () => {
    const gce = new SheetsStub({ metadataAccount: 'vm@stub-project.iam.gserviceaccount.com' });
    await gce.start();
    try {
      const base = `http://${gce.metadataHost}/computeMetadata/v1/instance/service-accounts/default`;
      expect((await fetch(`${base}/email`)).status).toBe(403);
      const email = await fetch(`${base}/email`, { headers: { 'Metadata-Flavor': 'Google' } });
      expect(email.headers.get('metadata-flavor')).toBe('Google');
      expect(await email.text()).toBe('vm@stub-project.iam.gserviceaccount.com');
      const token = (await (
        await fetch(`${base}/token`, { headers: { 'Metadata-Flavor': 'Google' } })
      ).json()) as { access_token: string };
      const id = gce.createSpreadsheet({ users: ['vm@stub-project.iam.gserviceaccount.com'] });
      await client(gce, token.access_token).spreadsheets.get({ spreadsheetId: id });
      expect(gce.requests.at(-1)).toMatchObject({
        status: 200,
        user: 'vm@stub-project.iam.gserviceaccount.com',
      });
    } finally {
      await gce.stop();
    }
  });

  it('renames, deletes and tags tabs with developer metadata, by the rules of Google, atomically', async () => {
    const id = stub.createSpreadsheet({ tabs: ['Sheet1', 'staging'] });
    const staging = stub.sheet(id, 'staging')!.sheetId;
    const update = (requests: sheets_v4.Schema$Request[]) =>
      api.spreadsheets.batchUpdate({ spreadsheetId: id, requestBody: { requests } });
    // Titles: unique without regard to case, not empty, at most 100 characters.
    for (const [title, message] of [
      ['SHEET1', /already exists/],
      ['  ', /can not be empty/],
      ['x'.repeat(101), /longer than 100 characters/],
    ] as const) {
      const f = await failure(
        update([{ updateSheetProperties: { properties: { sheetId: staging, title }, fields: 'title' } }]),
      );
      expect(f.status).toBe(400);
      expect(f.message).toMatch(message);
    }
    expect(
      (await failure(update([{ addSheet: { properties: { title: 'y'.repeat(101) } } }]))).message,
    ).toMatch(/longer than 100/);
    // Metadata needs a key, a visibility and a location.
    expect(
      (
        await failure(
          update([
            {
              createDeveloperMetadata: {
                developerMetadata: { metadataKey: 'k', location: { sheetId: staging } },
              },
            },
          ]),
        )
      ).message,
    ).toMatch(/visibility is required/);
    // Rename + tag + delete in one request: all or nothing (the last request fails: nothing applied).
    const sheet1 = stub.sheet(id, 'Sheet1')!.sheetId;
    const tag = {
      createDeveloperMetadata: {
        developerMetadata: {
          metadataKey: 'passerelle.run',
          metadataValue: 'r1',
          location: { sheetId: staging },
          visibility: 'DOCUMENT',
        },
      },
    };
    const failed = await failure(
      update([
        { updateSheetProperties: { properties: { sheetId: staging, title: 'final' }, fields: 'title' } },
        tag,
        { deleteSheet: { sheetId: 424242 } },
      ]),
    );
    expect(failed.message).toMatch(/No grid with id: 424242/);
    expect(stub.sheet(id, 'staging')?.metadata).toEqual([]);
    await update([
      { updateSheetProperties: { properties: { sheetId: staging, title: 'final' }, fields: 'title' } },
      tag,
      { deleteSheet: { sheetId: sheet1 } },
    ]);
    const got = await api.spreadsheets.get({
      spreadsheetId: id,
      fields: 'sheets(properties,developerMetadata)',
    });
    expect(got.data.sheets?.map((s) => s.properties?.title)).toEqual(['final']);
    expect(got.data.sheets?.[0]?.developerMetadata).toEqual([
      {
        metadataId: 1,
        metadataKey: 'passerelle.run',
        metadataValue: 'r1',
        visibility: 'DOCUMENT',
        location: { locationType: 'SHEET', sheetId: staging },
      },
    ]);
    // The last sheet can not go.
    expect((await failure(update([{ deleteSheet: { sheetId: staging } }]))).message).toMatch(
      /can't remove all the sheets/,
    );
  });
});
