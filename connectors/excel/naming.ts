/**
 * Worksheet names that Excel accepts: at most 31 characters, none of []:*?/\, not starting or
 * ending with an apostrophe, not empty, not the reserved "History", and unique without regard to
 * case. LibreOffice and Excel both refuse (or "repair") a workbook that breaks one of these rules.
 */
export const MAX_SHEET_NAME = 31;

// eslint-disable-next-line no-control-regex -- control characters are exactly what must go
const FORBIDDEN = /[[\]:*?/\\\u0000-\u001f]/g;

/** Lone surrogates and the non-characters U+FFFE/U+FFFF: XML can not carry them. */
const NOT_XML = /[\uD800-\uDFFF\uFFFE\uFFFF]/;
const NOT_XML_ALL = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|[\uFFFE\uFFFF]/g;

/**
 * Text that XML can carry: one such character would make the whole workbook unreadable. (exceljs
 * itself drops the other control characters.)
 */
export function xmlSafe(text: string): string {
  return NOT_XML.test(text) ? text.replace(NOT_XML_ALL, '\uFFFD') : text;
}

/** The name of a key, made valid (uniqueness aside). */
export function validSheetName(key: string): string {
  let name = xmlSafe(key).replace(FORBIDDEN, '_').trim();
  name = name.replace(/^'+|'+$/g, '');
  if (name === '') name = 'Sheet';
  if (name.toLowerCase() === 'history') name = 'History_';
  return truncate(name, MAX_SHEET_NAME);
}

/** Cuts to `max` UTF-16 units without splitting a surrogate pair (Excel counts UTF-16 units). */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return cut.replace(/'+$/, '');
}

/**
 * Hands out unique, valid names within one workbook. The same sequence of requests always gives
 * the same names, so replaying a journal after a restart gives every sheet back its name.
 */
export class SheetNames {
  private readonly taken = new Set<string>();

  /** Marks a name as used (replay of a journal). */
  reserve(name: string): void {
    this.taken.add(name.toLowerCase());
  }

  /**
   * A free name for `key`; `part` > 1 is the continuation of a full sheet: `name (2)`.
   * Collisions (two keys that clean up to the same name) get ` ~2`, ` ~3`...
   */
  allocate(key: string, part = 1): string {
    const base = validSheetName(key);
    const first = part > 1 ? withSuffix(base, ` (${part})`) : base;
    let candidate = first;
    for (let n = 2; this.taken.has(candidate.toLowerCase()); n++) candidate = withSuffix(first, ` ~${n}`);
    this.taken.add(candidate.toLowerCase());
    return candidate;
  }
}

function withSuffix(base: string, suffix: string): string {
  return truncate(base, MAX_SHEET_NAME - suffix.length) + suffix;
}
