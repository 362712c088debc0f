/**
 * UTC time stamps for the logs and the HTTP Date header, built from Date's UTC getters.
 *
 * On Node 20, V8's Date#toISOString and Date#toUTCString (like Date#toString) look up the
 * display name of the local time zone ("Coordinated Universal Time") although they never print
 * it: the first call loads ICU's time zone names, ~1 MB of the node binary's ICU data and code
 * that an idle relay needs for nothing else (issue 17, docs/operations.md "Footprint"). pino's
 * isoTime and Node's HTTP server call them at start, and then for each log line and response.
 */

const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`);

/** Four-digit years: Date's own formats differ beyond them (`+010000`, `-000001`). */
const inFourDigits = (year: number): boolean => year >= 0 && year <= 9999;

/** `new Date(ms).toISOString()`: 2026-12-06T03:49:36.123Z. */
export function isoTimestamp(ms: number): string {
  const date = new Date(ms);
  const year = date.getUTCFullYear();
  // An invalid date throws there, as it does here.
  if (!inFourDigits(year)) return date.toISOString();
  const millis = date.getUTCMilliseconds();
  return `${String(year).padStart(4, '0')}-${pad2(date.getUTCMonth() + 1)}-${pad2(date.getUTCDate())}T${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}:${pad2(date.getUTCSeconds())}.${millis < 100 ? `0${pad2(millis)}` : millis}Z`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `new Date(ms).toUTCString()`, the HTTP Date format: Sun, 06 Dec 2026 03:49:36 GMT. */
export function httpDate(ms: number): string {
  const date = new Date(ms);
  const year = date.getUTCFullYear();
  if (!inFourDigits(year)) return date.toUTCString();
  return `${DAYS[date.getUTCDay()]}, ${pad2(date.getUTCDate())} ${MONTHS[date.getUTCMonth()]} ${String(year).padStart(4, '0')} ${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}:${pad2(date.getUTCSeconds())} GMT`;
}
