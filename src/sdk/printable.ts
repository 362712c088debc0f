/**
 * Text from messages (payloads, dead-letter reasons, metadata) made safe for a terminal: control
 * characters could retitle the terminal, move the cursor or fake output lines (ANSI escape
 * sequences start with ESC, or with the 8-bit CSI U+009B), and bidirectional overrides make text
 * read differently from what it is. Each one becomes a visible escape: `\n`, `\r`, `\t`, or
 * `\u001b` for the others. These are JSON string escapes too, so the result of
 * `JSON.stringify` stays valid JSON with the same value.
 *
 * Escaped: C0 (U+0000-U+001F), DEL (U+007F), C1 (U+0080-U+009F), the bidirectional marks,
 * embeddings, overrides and isolates (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), and
 * the line and paragraph separators (U+2028, U+2029). A backslash is left as it is.
 */

// eslint-disable-next-line no-control-regex -- control characters are exactly what must go
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;
const UNSAFE_KEEPING_LINES =
  // eslint-disable-next-line no-control-regex -- the same, without line feed and tab
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeOne(char: string): string {
  return NAMED[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** Every unsafe character escaped, line feeds and tabs too: for one field of message data. */
export function printable(text: string): string {
  return text.replace(UNSAFE, escapeOne);
}

/**
 * The same, but line feeds and tabs are kept: for whole blocks of command output whose own layout
 * uses them (the last guard on what a command writes; fields are escaped with `printable` first).
 */
export function printableLines(text: string): string {
  return text.replace(UNSAFE_KEEPING_LINES, escapeOne);
}
