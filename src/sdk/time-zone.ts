/**
 * Whether `zone` is an IANA time zone this Node knows (`Europe/Paris`, `UTC`). The same test as
 * luxon's `IANAZone.isValidZone` (Intl refuses an unknown zone), without loading luxon: specs
 * validate time zones for every configuration, and a relay without dates must not pay for it.
 */
export function isTimeZone(zone: string): boolean {
  if (!zone) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone }).format();
    return true;
  } catch {
    return false;
  }
}
