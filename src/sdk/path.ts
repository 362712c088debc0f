/**
 * The one grammar of paths into a message, shared by templates (`{{ payload.device }}`), getters
 * (`value:`, deadband's and aggregate's `fields:`) and the field paths of the editing transforms:
 *
 *   device.id            nested keys
 *   ["serial.no"]        a key with dots or other characters (JSON string escapes), or ['x y']
 *   readings[0]          an array item
 *   devices[*], *        every item of an array or value of an object (where the reader allows it)
 */
export const ANY = Symbol('any');
export type PathSegment = string | number | typeof ANY;

const TOKEN = /([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[\*\]|\["((?:[^"\\]|\\.)*)"\]|\['([^']*)'\]|(\*)|(\.)/y;

/** Splits a path into segments; throws an Error with a readable message when it is not one. */
export function parsePathSegments(text: string): PathSegment[] {
  const source = text;
  const segments: PathSegment[] = [];
  const re = new RegExp(TOKEN.source, 'y');
  let expectName = true;
  let dotPending = false;
  while (re.lastIndex < source.length) {
    const at = re.lastIndex;
    const m = re.exec(source);
    if (!m) throw new Error(`cannot read "${source}" at character ${at + 1}`);
    if (m[6] !== undefined) {
      if (dotPending || (segments.length === 0 && at === 0))
        throw new Error(`cannot read "${source}": empty name at character ${at + 1}`);
      expectName = true;
      dotPending = true;
      continue;
    }
    const isName = m[1] !== undefined || m[5] !== undefined;
    if (isName && !expectName) throw new Error(`cannot read "${source}" at character ${at + 1}`);
    if (m[1] !== undefined) segments.push(m[1]);
    else if (m[2] !== undefined) segments.push(Number(m[2]));
    else if (m[3] !== undefined) segments.push(JSON.parse(`"${m[3]}"`) as string);
    else if (m[4] !== undefined) segments.push(m[4]);
    else segments.push(ANY); // [*] or *
    expectName = false;
    dotPending = false;
  }
  if (dotPending) throw new Error(`cannot read "${source}": it ends with a dot`);
  return segments;
}
