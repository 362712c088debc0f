/** JSONata's own truthiness ($boolean), so a filter keeps what a JSONata predicate `[...]` would. */
export function toBoolean(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') return value.length > 0;
  if (typeof value === 'number') return value !== 0 && !Number.isNaN(value);
  if (typeof value === 'function') return false;
  if (Array.isArray(value)) return value.length === 1 ? toBoolean(value[0]) : value.some(toBoolean);
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return false;
}
