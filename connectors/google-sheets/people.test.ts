import { afterEach, describe, expect, it } from 'vitest';
import { SheetsStub } from '../../test/sheets-stub/server.js';
import { columnValues, readings, stubSink, writeUntilDone } from '../../test/sheets-stub/sink-fixture.js';
import type { GoogleSheetsSink } from './sink.js';

/**
 * People work in the tabs the sink writes: they type rows, insert and delete rows and sort, between
 * the sink's batches and while a batch is on its way. No row anyone wrote may ever be overwritten,
 * and a batch retried after an answer was lost must not appear twice.
 */
const stubs: SheetsStub[] = [];
const sinks: GoogleSheetsSink[] = [];

afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
  for (const s of stubs.splice(0)) await s.stop();
});

async function setup(valueInputOption: string, requestTimeout = '10s') {
  const stub = new SheetsStub({ writesPerWindow: 1000, readsPerWindow: 1000 });
  await stub.start();
  stubs.push(stub);
  const id = stub.createSpreadsheet();
  const { sink } = stubSink(stub, id, { tab: 'log', requestTimeout, valueInputOption });
  sinks.push(sink);
  await sink.connect(AbortSignal.timeout(10_000));
  return { stub, id, sink };
}

const signal = () => AbortSignal.timeout(20_000);
const valuesOf = (batch: { payload: unknown }[]) => batch.map((m) => (m.payload as { value: string }).value);

/** Every non-empty cell of the tab as text, to find what people typed. */
function allCells(stub: SheetsStub, id: string): string[] {
  return stub.values(id, 'log').flatMap((row) => row.filter((v) => v !== null).map(String));
}

function expectOnce(values: unknown[], expected: string[]): void {
  for (const v of expected)
    expect(
      values.filter((x) => x === v),
      v,
    ).toHaveLength(1);
}

// RAW appends with appendCells (all tabs in one request), USER_ENTERED with values.append per tab.
describe.each(['RAW', 'USER_ENTERED'])('google-sheets sink (%s) with people editing the tab', (mode) => {
  it('never overwrites rows people typed, inserted or sorted between batches', async () => {
    const { stub, id, sink } = await setup(mode);
    const a = readings(4, 'a');
    await sink.write(a, signal());
    // Below the data, right after it, and further down after a gap.
    stub.typeRow(id, 'log', 6, ['typed right below']);
    stub.typeRow(id, 'log', 12, ['typed further down']);
    const b = readings(5, 'b');
    await sink.write(b, signal());
    // An inserted row in the middle of the data, typed into; then the data sorted by value, descending.
    stub.insertRows(id, 'log', 3, 1);
    stub.typeRow(id, 'log', 3, ['inserted by hand']);
    stub.sortRows(id, 'log', 2, 1, true);
    const c = readings(6, 'c');
    await sink.write(c, signal());
    const cells = allCells(stub, id);
    for (const typed of ['typed right below', 'typed further down', 'inserted by hand'])
      expect(cells).toContain(typed);
    expectOnce(columnValues(stub, id), [...valuesOf(a), ...valuesOf(b), ...valuesOf(c)]);
    expect(stub.values(id, 'log')[0]?.slice(0, 3)).toEqual(['time', 'value', 'n']);
  });

  it('never overwrites rows after people deleted rows, and keeps writing below the rest', async () => {
    const { stub, id, sink } = await setup(mode);
    const a = readings(6, 'a');
    await sink.write(a, signal());
    stub.deleteRows(id, 'log', 2, 3);
    // The data now ends at row 4: notes right under it, and where row 8 was before the deletion.
    stub.typeRow(id, 'log', 5, ['note under the data']);
    stub.typeRow(id, 'log', 8, ['second note']);
    const b = readings(3, 'b');
    await sink.write(b, signal());
    expect(allCells(stub, id)).toContain('note under the data');
    expect(allCells(stub, id)).toContain('second note');
    expectOnce(columnValues(stub, id), [...valuesOf(a).slice(3), ...valuesOf(b)]);
  });

  it('edits during a batch: a person typing, inserting or sorting while the request is on its way', async () => {
    const { stub, id, sink } = await setup(mode);
    await sink.write(readings(3, 'first'), signal());
    const edits: [string, () => void][] = [
      ['typed during', () => stub.typeRow(id, 'log', stub.values(id, 'log').length + 1, ['typed during'])],
      [
        'inserted during',
        () => {
          stub.insertRows(id, 'log', 2, 1);
          stub.typeRow(id, 'log', 2, ['inserted during']);
        },
      ],
      ['sorted during', () => stub.sortRows(id, 'log', 2, 1, true)],
    ];
    const written: string[] = [];
    for (const [name, edit] of edits) {
      stub.beforeNextWrite(edit);
      const batch = readings(3, name.replace(' ', '-'));
      await writeUntilDone(sink, batch);
      written.push(...valuesOf(batch));
    }
    const cells = allCells(stub, id);
    expect(cells).toContain('typed during');
    expect(cells).toContain('inserted during');
    expectOnce(columnValues(stub, id), written);
  });

  it('a batch whose answer was lost, or timed out, is written once even when people edited in between', async () => {
    const { stub, id, sink } = await setup(mode, '400ms');
    await writeUntilDone(sink, readings(3, 'before'));
    // The write is applied, the answer lost; then someone sorts and types before the retry.
    const lost = readings(4, 'lost');
    stub.loseResponses(1);
    await expect(sink.write(lost, signal())).rejects.toThrow();
    stub.sortRows(id, 'log', 2, 1, true);
    stub.typeRow(id, 'log', stub.values(id, 'log').length + 1, ['typed before the retry']);
    await writeUntilDone(sink, lost);
    // Applied, but answered too late (the request timeout is 400 ms); a row is inserted meanwhile.
    const slow = readings(4, 'slow');
    stub.setDelay(700);
    await expect(sink.write(slow, signal())).rejects.toThrow();
    stub.setDelay(0);
    stub.insertRows(id, 'log', 2, 1);
    stub.typeRow(id, 'log', 2, ['inserted before the retry']);
    await writeUntilDone(sink, slow);
    // Several retries in a row, with a 503 among them.
    const flaky = readings(2, 'flaky');
    stub.loseResponses(1);
    await expect(sink.write(flaky, signal())).rejects.toThrow();
    stub.failNext(1, 503);
    await writeUntilDone(sink, flaky);
    await writeUntilDone(sink, flaky);
    const cells = allCells(stub, id);
    expect(cells).toContain('typed before the retry');
    expect(cells).toContain('inserted before the retry');
    expectOnce(columnValues(stub, id), [...valuesOf(lost), ...valuesOf(slow), ...valuesOf(flaky)]);
    expect(columnValues(stub, id)).toHaveLength(3 + 4 + 4 + 2);
  });

  it('a tab deleted by hand is created again, with its header, on the next batch', async () => {
    const { stub, id, sink } = await setup(mode);
    await sink.write(readings(2, 'gone'), signal());
    const book = stub.spreadsheets.get(id)!;
    book.sheets = book.sheets.filter((t) => t.title !== 'log');
    const back = readings(2, 'back');
    await writeUntilDone(sink, back);
    expect(stub.values(id, 'log')[0]?.slice(0, 3)).toEqual(['time', 'value', 'n']);
    expect(columnValues(stub, id)).toEqual(valuesOf(back));
  });
});
