import type { RE2JS } from 're2js';
import { lazyRequire } from '../../sdk/index.js';

/** re2js, required with the first regular expression compiled: a pipeline without one never loads it. */
const re2js = (): typeof import('re2js') =>
  lazyRequire('re2js', 'A regular expression in a JSONata expression (map, filter)');

/**
 * JavaScript's RegExp backtracks: `/^(a+)+$/` on 28 characters ran for 12 s. RE2 (here its pure
 * JavaScript port, re2js) matches in time linear in the input, and refuses what cannot be matched
 * that way (backreferences, lookahead, lookbehind). This class is the part of RegExp that JSONata
 * uses through its `RegexEngine` option: `new RegexEngine(regexp)`, then `lastIndex` and `exec()`.
 */
export class LinearRegExp {
  lastIndex = 0;
  private readonly re: RE2JS;

  constructor(regexp: RegExp) {
    this.re = compileLinear(regexp);
  }

  exec(input: string): RegExpExecArray | null {
    const start = this.lastIndex;
    if (start > input.length) {
      this.lastIndex = 0;
      return null;
    }
    const matcher = this.re.matcher(input);
    if (!matcher.find(start)) {
      this.lastIndex = 0;
      return null;
    }
    const groups: (string | undefined)[] = [];
    for (let i = 0; i <= matcher.groupCount(); i++) groups.push(matcher.group(i) ?? undefined);
    const match = Object.assign(groups, { index: matcher.start(), input }) as unknown as RegExpExecArray;
    this.lastIndex = matcher.end();
    return match;
  }
}

/** One compiled RE2 program per regular expression of an expression, not one per evaluation. */
const compiled = new WeakMap<RegExp, RE2JS>();

function compileLinear(regexp: RegExp): RE2JS {
  let re = compiled.get(regexp);
  if (!re) {
    const { RE2JS: engine } = re2js();
    re = engine.compile(engine.translateRegExp(regexp));
    compiled.set(regexp, re);
  }
  return re;
}

/** Why RE2 refuses this regular expression, in a sentence; undefined when it compiles. */
export function linearRegExpProblem(regexp: RegExp): string | undefined {
  try {
    compileLinear(regexp);
    return undefined;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return (
      `the regular expression /${regexp.source}/ is not supported: expressions use RE2, which matches in ` +
      `linear time and has no backreferences (\\1), lookahead ((?=...), (?!...)) or lookbehind ((?<=...), (?<!...)) (${detail})`
    );
  }
}
