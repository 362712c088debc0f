// Preloaded into a relay by `INSTR_ALLOC=1 node bench/instructions.js` (with --expose-gc and
// --trace-gc-nvp): each SIGUSR2 runs a minor GC and prints a marker line, so the bytes V8 reports
// as allocated between two GCs (`allocated=` of --trace-gc-nvp) can be summed exactly over the
// measured messages. With INSTR_ALLOC_PROFILE=<file>, V8's sampling heap profiler runs between the
// two markers, objects collected by GCs included (where the bytes are allocated, by function).
// INSTR_ALLOC_PROFILE_SURVIVORS=1 leaves out the objects scavenges collected: what remains is
// where the objects that lived through scavenges (promoted, or still alive) were allocated.
import { writeFileSync, writeSync } from 'node:fs';
import inspector from 'node:inspector';

const profileFile = process.env.INSTR_ALLOC_PROFILE;
const survivorsOnly = ['1', 'true', 'yes'].includes(
  (process.env.INSTR_ALLOC_PROFILE_SURVIVORS ?? '').toLowerCase(),
);
const SAMPLING_INTERVAL_BYTES = 256;
let marks = 0;
let session;

function post(method, params) {
  let result;
  session.post(method, params, (error, value) => {
    if (error) throw error;
    result = value;
  });
  return result;
}

process.on('SIGUSR2', () => {
  if (profileFile && marks === 1) {
    writeFileSync(profileFile, JSON.stringify(post('HeapProfiler.stopSampling').profile));
    session.disconnect();
  }
  globalThis.gc({ type: 'minor' });
  writeSync(1, `[alloc-probe] mark ${marks}\n`);
  if (profileFile && marks === 0) {
    session = new inspector.Session();
    session.connect();
    post('HeapProfiler.startSampling', {
      samplingInterval: SAMPLING_INTERVAL_BYTES,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: !survivorsOnly,
    });
  }
  marks++;
});
