import { afterAll, beforeAll } from 'vitest';
import { createMessage } from '../../src/sdk/index.js';
import { sinkConformance } from '../../test/conformance/sink.js';
import { SheetsStub } from '../../test/sheets-stub/server.js';
import { columnValues, stubSink } from '../../test/sheets-stub/sink-fixture.js';

/** The shared sink behaviour, against the Sheets stand-in (stopped and started on the same port). */
const stub = new SheetsStub({ writesPerWindow: 10_000, readsPerWindow: 10_000 });
beforeAll(() => stub.start());
afterAll(() => stub.stop());

sinkConformance('google-sheets (Sheets API stand-in)', () => {
  const id = stub.createSpreadsheet();
  return {
    create: (ctx) => stubSink(stub, id, {}, { ctx }).sink,
    messages: (values) => values.map((value) => createMessage({ id: value, payload: { value } })),
    received: () => Promise.resolve(columnValues(stub, id).map(String)),
    heldDataVisible: true,
    holdAcceptance: () => Promise.resolve(stub.hold()),
    releaseAcceptance: () => Promise.resolve(stub.release()),
    stopTarget: () => stub.stop(),
    startTarget: () => stub.start(),
  };
});
