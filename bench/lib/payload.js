// The benchmark message: a 200-byte JSON object with a send timestamp (`ts`, milliseconds on the
// machine's monotonic clock, shared by every process) and a phase tag so that stragglers from an
// earlier phase are never counted in the next one.
export const PAYLOAD_BYTES = 200;

/** Milliseconds on CLOCK_MONOTONIC (process.hrtime), comparable across processes on one machine. */
export function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function makePayload(phase, id, ts) {
  const head = `{"phase":"${phase}","id":${id},"ts":${ts.toFixed(3)},"device":"sensor-0042","temperature":21.5,"humidity":48.2,"pad":"`;
  const padLen = PAYLOAD_BYTES - head.length - 2;
  return head + 'x'.repeat(Math.max(0, padLen)) + '"}';
}

/**
 * Reads a relayed message. It must be the input object with one field added: `phase`, `id` and
 * `ts` at the top level (a relay that wraps the message in an envelope, or loses it, does not
 * pass), and `relayed` tells whether the relay set the field it should set.
 */
export function readRelayed(buf) {
  let obj;
  try {
    obj = JSON.parse(buf);
  } catch {
    return null;
  }
  if (obj === null || typeof obj !== 'object' || typeof obj.ts !== 'number' || typeof obj.phase !== 'string')
    return null;
  return { phase: obj.phase, id: obj.id, ts: obj.ts, relayed: obj.relayed === true };
}
