// The benchmark message: a 200-byte JSON object with a send timestamp (`ts`, milliseconds on the
// machine's monotonic clock, shared by every process) and a phase tag so that stragglers from an
// earlier phase are never counted in the next one.
export const PAYLOAD_BYTES = 200;

/** Milliseconds on CLOCK_MONOTONIC (process.hrtime), comparable across processes on one machine. */
export function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The relay bench's message: about 100 bytes (issue 17), `temperature` in degC. */
export const RELAY_PAYLOAD_BYTES = 100;

export function makePayload(phase, id, ts, bytes = PAYLOAD_BYTES) {
  const head =
    bytes <= RELAY_PAYLOAD_BYTES
      ? `{"phase":"${phase}","id":${id},"ts":${ts.toFixed(3)},"device":"s-42","temperature":21.5,"pad":"`
      : `{"phase":"${phase}","id":${id},"ts":${ts.toFixed(3)},"device":"sensor-0042","temperature":21.5,"humidity":48.2,"pad":"`;
  const padLen = bytes - head.length - 2;
  return head + 'x'.repeat(Math.max(0, padLen)) + '"}';
}

/**
 * Reads a relayed message. It must be the input object with its fields changed and added: `phase`,
 * `id` and `ts` at the top level (a relay that wraps the message in an envelope, or loses it, does
 * not pass), and `relayed` tells whether the relay did all of its work.
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
  // The relay's work, the same for every relay: unit-convert (21.5 degC -> 70.7 degF, one
  // decimal) and enrich (`site`, `relayed`).
  const relayed = obj.relayed === true && obj.site === 'lyon' && obj.temperature === 70.7;
  return { phase: obj.phase, id: obj.id, ts: obj.ts, relayed };
}
