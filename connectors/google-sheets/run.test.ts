import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BatchError, createMessage, FatalError, RetryableError, type Message } from '../../src/sdk/index.js';
import { loadPipelineTexts } from '../../src/config/load.js';
import { builtinRegistry } from '../../src/registry/index.js';
import { dailyRun, runMessages } from '../../test/harness/runs.js';
import { SheetsStub } from '../../test/sheets-stub/server.js';
import { stubSink, writeUntilDone } from '../../test/sheets-stub/sink-fixture.js';
import { RUN_METADATA_KEY, RUNS_HEADER, stagingPrefix } from './run-output.js';
import type { GoogleSheetsSink } from './sink.js';
import { googleSheetsSinkConfig } from './spec.js';

/** `rotate: run`: one tab per run, complete or absent, replaced by a rerun; `_runs` lists the runs. */

const stub = new SheetsStub({ writesPerWindow: 10_000, readsPerWindow: 10_000 });
const sinks: GoogleSheetsSink[] = [];
beforeAll(() => stub.start());
afterAll(() => stub.stop());
afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
});
const signal = (): AbortSignal => AbortSignal.timeout(20_000);

async function startSink(id: string, overrides: Record<string, unknown> = {}): Promise<GoogleSheetsSink> {
  const { sink } = stubSink(stub, id, {
    rotate: 'run',
    timeZone: 'Europe/Paris',
    tab: 'report {{ window.start:YYYY-MM-DD }} to {{ window.end:DD }}',
    columns: [
      { header: 'n', value: 'payload.n' },
      { header: 'text', value: 'payload.text', type: 'text' },
    ],
    ...overrides,
  });
  sinks.push(sink);
  await sink.connect(signal());
  return sink;
}

const TAB = 'report 2026-12-04 to 05';
const titles = (id: string): string[] => stub.spreadsheets.get(id)!.sheets.map((s) => s.title);
/** Data rows of a tab: [n, text] (the hidden batch id column left out). */
const rows = (id: string, title: string): unknown[][] =>
  stub
    .values(id, title)
    .slice(1)
    .map((r) => r.slice(0, 2));
const texts = (messages: Message[]): unknown[][] =>
  messages.map((m) => [(m.payload as { n: number }).n, (m.payload as { text: string }).text]);

describe('google-sheets sink: rotate: run', () => {
  it('a run written in 3 batches is one tab, there only once the run ended, recorded in _runs', async () => {
    const id = stub.createSpreadsheet();
    const sink = await startSink(id);
    const run = dailyRun();
    await sink.beginRun(run, signal());
    const sent = runMessages(run, 0, 30);
    for (let i = 0; i < 30; i += 10) await sink.write(sent.slice(i, i + 10), signal());
    // Until the run ends, its rows are in a staging tab, not under the tab's name.
    expect(titles(id)).not.toContain(TAB);
    expect(titles(id).filter((t) => t.startsWith(stagingPrefix(run.id)))).toHaveLength(1);

    const before = Date.now();
    const output = await sink.endRun(run, signal());
    expect(output).toEqual({ targets: [TAB], rows: 30 });
    expect(titles(id)).toEqual(['Sheet1', TAB, '_runs']);
    // Every value as sent: RAW keeps formula-like text as text.
    expect(stub.values(id, TAB)[0]).toEqual(['n', 'text', 'passerelle batch']);
    expect(rows(id, TAB)).toEqual(texts(sent));
    expect(stub.sheet(id, TAB)!.rows.every((r) => r.every((c) => c?.formula === undefined))).toBe(true);
    expect(stub.sheet(id, TAB)!.metadata.map((m) => [m.metadataKey, m.metadataValue])).toEqual([
      [RUN_METADATA_KEY, run.id],
    ]);
    const runs = stub.values(id, '_runs');
    expect(runs[0]).toEqual(RUNS_HEADER);
    expect(runs.slice(1).map((r) => r.slice(0, 5))).toEqual([
      [run.id, '2026-12-03T23:00:00.000Z', '2026-12-04T23:00:00.000Z', TAB, 30],
    ]);
    expect(Date.parse(runs[1]![5] as string)).toBeGreaterThanOrEqual(before - 1000);
  });

  it('a rerun after a crash mid-run (a new sink instance) gives the same single tab, exact rows, no duplicates', async () => {
    const id = stub.createSpreadsheet();
    const run = dailyRun();
    const sent = runMessages(run, 0, 30);
    const first = await startSink(id);
    await first.beginRun(run, signal());
    await first.write(sent.slice(0, 10), signal());
    await first.write(sent.slice(10, 20), signal());
    // The first replica dies here; another runs the tick again.
    const second = await startSink(id);
    await second.beginRun({ ...run, attempt: 2 }, signal());
    expect(titles(id).filter((t) => t.startsWith('~run'))).toEqual([]);
    for (let i = 0; i < 30; i += 10) await second.write(sent.slice(i, i + 10), signal());
    // A batch delivered twice within the attempt is written once.
    await second.write(sent.slice(20), signal());
    expect(await second.endRun(run, signal())).toEqual({ targets: [TAB], rows: 30 });
    expect(titles(id)).toEqual(['Sheet1', TAB, '_runs']);
    expect(rows(id, TAB)).toEqual(texts(sent));
  });

  it('a rerun of a completed run replaces its tab and updates its _runs row; two runs give two tabs', async () => {
    const id = stub.createSpreadsheet();
    const sink = await startSink(id);
    const run = dailyRun(4);
    await sink.beginRun(run, signal());
    await sink.write(runMessages(run, 0, 10), signal());
    await sink.endRun(run, signal());
    const other = dailyRun(5);
    await sink.beginRun(other, signal());
    await sink.write(runMessages(other, 100, 3), signal());
    expect(await sink.endRun(other, signal())).toEqual({ targets: ['report 2026-12-05 to 06'], rows: 3 });

    const late = runMessages(run, 0, 12, ' (late)');
    await sink.beginRun({ ...run, attempt: 3 }, signal());
    await sink.write(late.slice(0, 6), signal());
    await sink.write(late.slice(6), signal());
    expect(await sink.endRun(run, signal())).toEqual({ targets: [TAB], rows: 12 });
    expect(titles(id).sort()).toEqual(['Sheet1', TAB, '_runs', 'report 2026-12-05 to 06'].sort());
    expect(rows(id, TAB)).toEqual(texts(late));
    expect(rows(id, 'report 2026-12-05 to 06')).toEqual(texts(runMessages(other, 100, 3)));
    const runs = stub.values(id, '_runs').slice(1);
    expect(runs.map((r) => [r[0], r[4]])).toEqual([
      [run.id, 12],
      [other.id, 3],
    ]);
  });

  it('a lost answer during a run, and a 429 at its end: retried, no duplicate rows', async () => {
    const id = stub.createSpreadsheet();
    const sink = await startSink(id);
    const run = dailyRun();
    const sent = runMessages(run, 0, 20);
    await sink.beginRun(run, signal());
    await sink.write(sent.slice(0, 10), signal());
    stub.loseResponses(1);
    await expect(sink.write(sent.slice(10), signal())).rejects.toBeInstanceOf(Error);
    // The outbox's retries (the sink is reachable again after its next probe): found in the staging tab.
    await writeUntilDone(sink, sent.slice(10));
    stub.failNext(1, 429, { retryAfterSeconds: 0 });
    await expect(sink.endRun(run, signal())).rejects.toBeInstanceOf(RetryableError);
    expect(titles(id)).not.toContain(TAB);
    await sink.endRun(run, signal());
    expect(rows(id, TAB)).toEqual(texts(sent));
  });

  it('two different runs naming the same tab: the second fails with a clear error; a person’s tab is never replaced', async () => {
    const id = stub.createSpreadsheet();
    const sink = await startSink(id, { tab: 'report' });
    const a = dailyRun(4);
    await sink.beginRun(a, signal());
    await sink.write(runMessages(a, 0, 3), signal());
    await sink.endRun(a, signal());
    const b = dailyRun(5);
    await sink.beginRun(b, signal());
    await sink.write(runMessages(b, 0, 2), signal());
    const error = await sink.endRun(b, signal()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FatalError);
    expect((error as Error).message).toMatch(
      /tab "report" holds run daily@2026-12-04T23:00:00.000Z, and run daily@2026-12-05T23:00:00.000Z would replace it: put the window in the tab name/,
    );
    expect(rows(id, 'report').map((r) => r[0])).toEqual([0, 1, 2]);

    const mine = stub.createSpreadsheet({ tabs: ['Sheet1', 'report'] });
    const other = await startSink(mine, { tab: 'report' });
    await other.beginRun(a, signal());
    await other.write(runMessages(a, 0, 1), signal());
    await expect(other.endRun(a, signal())).rejects.toThrow(
      /"report" already exists and was not written by a run/,
    );
  });

  it('outside a scheduled pipeline: each message fails alone with a clear error', async () => {
    const id = stub.createSpreadsheet();
    const sink = await startSink(id);
    const plain = createMessage({ id: 'p1', time: 0, meta: {}, payload: { n: 1 } });
    const [unbegun] = runMessages(dailyRun(), 0, 1);
    const error = await sink.write([plain, unbegun!], signal()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BatchError);
    const failures = (error as BatchError).failures;
    expect(failures.map((f) => f.error.message)).toEqual([
      expect.stringMatching(
        /not part of a run: `rotate: run` writes one tab per run of a scheduled pipeline/,
      ),
      expect.stringMatching(/belongs to run daily@.* which was not begun/),
    ]);
    expect(titles(id)).toEqual(['Sheet1']);
  });

  it('validate refuses rotate: run without a schedule, and window parts without rotate: run', () => {
    const text = [
      'name: sheets-not-scheduled',
      'source: { type: simulator }',
      'sinks:',
      "  - { type: google-sheets, spreadsheetId: abc, auth: { applicationDefault: true }, rotate: run, tab: '{{ window.start:YYYY-MM-DD }}' }",
      '',
    ].join('\n');
    const result = loadPipelineTexts([{ file: 'p.yaml', text }], builtinRegistry, { offline: true });
    expect(result.issues.map((i) => `${i.path} ${i.message}`).join('\n')).toMatch(
      /sinks\[0\]\.rotate.*one tab per run of a scheduled pipeline: this pipeline has no `schedule`/,
    );
    const parsed = googleSheetsSinkConfig.safeParse({
      spreadsheetId: 'abc',
      auth: { applicationDefault: true },
      tab: '{{ window.start:YYYY-MM-DD }}',
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toMatch(
      /name the run of `rotate: run`: use `\{\{ date:\.\.\. \}\}`/,
    );
  });
});
