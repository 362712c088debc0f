/**
 * InfluxDB line protocol: escaping, and the texts it cannot carry.
 *
 * Two parsers read it, and they differ on backslashes (both checked against their source and, for
 * 1.x, against a real influxd by the property test):
 * - `go`: InfluxDB 1.x and 2.x. A backslash escapes only the separators (`,` and space in a
 *   measurement; `,`, `=` and space in tag keys, tag values and field keys); `\\` is two
 *   backslashes. Measurement names and field keys are unescaped again by a routine that also
 *   turns `\"` and `\=` into `"` and `=`, so a backslash before `,`, space, `=` or `"` in them
 *   cannot be written; in tag keys and values only a final backslash cannot.
 * - `rust`: InfluxDB 3. `\\` is one backslash everywhere, so every backslash is doubled; a name or
 *   value that ends with a backslash is refused by the server even when escaped, and tab is a
 *   separator like space.
 * Both: a line starting with `#` is a comment, a line break ends the line, empty tag values are
 * not allowed (the tag is left out), string field values escape `"` and `\`.
 */

export type Dialect = 'go' | 'rust';

/** Which part of a point a text is, for escaping and for error messages. */
export type Element = 'measurement' | 'tag key' | 'tag value' | 'field key';

const MEASUREMENT_SPECIAL = /[, \\]/;
const KEY_SPECIAL = /[,= \\]/;
const MEASUREMENT_GO = /[, ]/g;
const KEY_GO = /[,= ]/g;
const MEASUREMENT_RUST = /[, \\]/g;
const KEY_RUST = /[,= \\]/g;
const STRING_SPECIAL = /["\\]/;
const STRING_ESCAPE = /["\\]/g;
const prefixBackslash = (c: string): string => `\\${c}`;

/** Escapes a measurement name, tag key, tag value or field key (checked with `problem` first). */
export function escapeName(text: string, element: Element, dialect: Dialect): string {
  if (element === 'measurement') {
    if (!MEASUREMENT_SPECIAL.test(text)) return text;
    return text.replace(dialect === 'go' ? MEASUREMENT_GO : MEASUREMENT_RUST, prefixBackslash);
  }
  if (!KEY_SPECIAL.test(text)) return text;
  return text.replace(dialect === 'go' ? KEY_GO : KEY_RUST, prefixBackslash);
}

/** A string field value, quoted. */
export function quoteString(text: string): string {
  return STRING_SPECIAL.test(text) ? `"${text.replace(STRING_ESCAPE, prefixBackslash)}"` : `"${text}"`;
}

/** An unpaired UTF-16 surrogate: JavaScript text that is not Unicode and would be sent as U+FFFD. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const SURROGATE = /[\uD800-\uDFFF]/;

/** Anything that may need a closer look: backslash, line breaks, tab, NUL, `#`, surrogates. */
const SUSPECT = /[\\\r\n\t\0#\uD800-\uDFFF]/;
const LINE_BREAK = /[\r\n]/;
/** 1.x/2.x: a backslash the server would read as an escape of the next character, or a final one. */
const GO_BAD_BACKSLASH_STRICT = /\\(?=[, ="]|$)/;
const GO_BAD_BACKSLASH_TAG = /\\$/;

/**
 * Why `text` cannot be written as this element in this dialect, or undefined when it can.
 * Empty texts are the caller's business (an empty tag value leaves the tag out).
 */
export function nameProblem(text: string, element: Element, dialect: Dialect): string | undefined {
  if (!SUSPECT.test(text)) return undefined;
  if (LINE_BREAK.test(text)) return `the ${element} contains a line break, which line protocol cannot carry`;
  if (LONE_SURROGATE.test(text))
    return `the ${element} contains an unpaired UTF-16 surrogate (not valid Unicode text)`;
  if (element === 'measurement' && text.startsWith('#'))
    return 'the measurement starts with "#": InfluxDB reads such a line as a comment and stores nothing';
  if (dialect === 'go') {
    if ((element === 'measurement' || element === 'field key') && /^[\t\0]/.test(text))
      return `the ${element} starts with a tab or NUL character, which InfluxDB 1.x/2.x strip`;
    const bad =
      element === 'tag key' || element === 'tag value' ? GO_BAD_BACKSLASH_TAG : GO_BAD_BACKSLASH_STRICT;
    if (bad.test(text))
      return element === 'tag key' || element === 'tag value'
        ? `the ${element} ends with a backslash, which line protocol cannot carry`
        : `the ${element} has a backslash at its end or before a comma, space, "=" or '"', which InfluxDB 1.x/2.x read as an escape`;
    return undefined;
  }
  if (text.includes('\t')) return `the ${element} contains a tab, which InfluxDB 3 reads as a separator`;
  if (element === 'measurement' && text.includes('\0'))
    return 'the measurement contains a NUL character, which InfluxDB 3 refuses';
  if (text.endsWith('\\'))
    return `the ${element} ends with a backslash, which InfluxDB 3 refuses even when escaped`;
  return undefined;
}

/** Why a string field value cannot be written, or undefined. */
export function stringProblem(text: string, maxBytes: number): string | undefined {
  if (SURROGATE.test(text) && LONE_SURROGATE.test(text))
    return 'it contains an unpaired UTF-16 surrogate (not valid Unicode text)';
  // Cheap bound first: a UTF-16 code unit is at most 3 bytes in UTF-8.
  if (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes)
    return `it is ${Buffer.byteLength(text)} bytes long; InfluxDB stores string fields up to ${maxBytes} bytes`;
  return undefined;
}
