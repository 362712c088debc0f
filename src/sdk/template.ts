import { FatalError } from './errors.js';
import type { Message } from './message.js';
import { ANY, parsePathSegments } from './path.js';

/**
 * The one template syntax of passerelle, for every name a connector builds (topics, files,
 * measurements, sheet tabs): text with `{{ expression }}` parts.
 *
 *   {{ payload.device.id }}     a path into the payload (dots, or [0] for array items)
 *   {{ meta.mqtt.topic }}       a metadata key (keys are namespaced with dots)
 *   {{ topic[1] }}              the second level of the MQTT topic (meta `mqtt.topic`)
 *   {{ pipeline }}              the pipeline name
 *   {{ id }}                    the message id
 *   {{ date:YYYY-MM-DD }}       the message time, formatted (YYYY MM DD HH mm ss SSS), in UTC
 *
 * Missing values render as an empty string unless `strict` is set. Templates are compiled once.
 *
 * A connector whose names have a structure (topic levels, folders) checks the values a message
 * supplies with the `value` option: only the rendered values, never the template's own text.
 */
export interface TemplateContext {
  pipeline?: string;
}

/**
 * Where a `{{ }}` value comes from. `source-topic` is the source's MQTT topic itself (`topic[N]`,
 * `meta.mqtt.topic`); `payload`, `meta` (other keys) and `id` come from the message; `pipeline`,
 * `time` and `date` from the service.
 */
export type TemplateValueSource = 'payload' | 'meta' | 'source-topic' | 'id' | 'pipeline' | 'time' | 'date';

export interface TemplatePart {
  /** The expression as written between `{{ }}`, trimmed: `payload.device`. */
  expression: string;
  source: TemplateValueSource;
}

export interface TemplateOptions {
  /** A missing value throws a TemplateError instead of rendering as an empty string. */
  strict?: boolean;
  /**
   * Checks or rewrites the text of each rendered value before it joins the template's text:
   * returns the text to use, or throws a TemplateError to fail the message.
   */
  value?: (text: string, part: TemplatePart) => string;
  /**
   * Told of a value that is missing, null or renders as empty text; may throw a TemplateError to
   * fail the message (a name with an empty part often mixes the data of different keys). When it
   * returns, the value renders as empty text.
   */
  onEmpty?: (part: TemplatePart, how: 'missing' | 'null' | 'empty') => void;
}

export type RenderFn = (message: Message, ctx?: TemplateContext) => string;

export class TemplateError extends FatalError {}

/**
 * The `{{ expression }}` parts of a template: `{{`, then text without `}`, then `}}`. A scan with
 * indexOf, linear in the length: the regular expression it replaces, /\{\{\s*([^}]*?)\s*\}\}/g,
 * backtracked in cubic time on `{{` followed by spaces (4,000 took 45 s).
 */
function* templateParts(template: string): Generator<{ start: number; end: number; expression: string }> {
  let from = 0;
  for (;;) {
    const start = template.indexOf('{{', from);
    if (start === -1) return;
    const close = template.indexOf('}', start + 2);
    if (close === -1) return;
    if (template[close + 1] === '}') {
      yield { start, end: close + 2, expression: template.slice(start + 2, close).trim() };
      from = close + 2;
    } else {
      // Every `{{` before this lone `}` reaches it first, so none of them starts a part.
      from = close + 1;
    }
  }
}

export function compileTemplate(template: string, options: TemplateOptions = {}): RenderFn {
  const pieces: (string | { get: Getter; part: TemplatePart })[] = [];
  let last = 0;
  for (const part of templateParts(template)) {
    if (part.start > last) pieces.push(template.slice(last, part.start));
    pieces.push({
      get: compileExpression(part.expression, template),
      part: { expression: part.expression, source: sourceOf(part.expression) },
    });
    last = part.end;
  }
  if (last < template.length) pieces.push(template.slice(last));
  if (template.slice(last).includes('{{')) throw new TemplateError(`unclosed "{{" in template "${template}"`);
  if (pieces.every((p) => typeof p === 'string')) {
    const constant = pieces.join('');
    return () => constant;
  }
  return (message, ctx) => {
    let out = '';
    for (const piece of pieces) {
      if (typeof piece === 'string') {
        out += piece;
        continue;
      }
      const value = piece.get(message, ctx);
      if (value === undefined || value === null) {
        if (options.strict)
          throw new TemplateError(
            `template "${template}": ${piece.part.expression} is missing in message ${message.id}`,
          );
        options.onEmpty?.(piece.part, value === null ? 'null' : 'missing');
        continue;
      }
      const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
      if (text === '') options.onEmpty?.(piece.part, 'empty');
      out += options.value ? options.value(text, piece.part) : text;
    }
    return out;
  };
}

type Getter = (m: Message, ctx?: TemplateContext) => unknown;

function sourceOf(expression: string): TemplateValueSource {
  if (expression.startsWith('date:')) return 'date';
  const segments = parsePath(expression);
  const head = segments[0];
  if (head === 'topic') return 'source-topic';
  if (head === 'meta') return segments.slice(1).join('.') === 'mqtt.topic' ? 'source-topic' : 'meta';
  return head === 'pipeline' || head === 'time' || head === 'id' ? head : 'payload';
}

/**
 * Compiles one template expression (what goes between `{{ }}`: `payload.a.b`, `meta.mqtt.topic`,
 * `topic[2]`, `time`, `id`) into a function that returns the value itself, not its text.
 */
export function compileGetter(expr: string): Getter {
  return compileExpression(expr.trim(), expr);
}

function compileExpression(expr: string, template: string): Getter {
  if (expr.startsWith('date:')) {
    const format = expr.slice(5).trim();
    return (m) => formatDate(m.time, format);
  }
  const segments = parsePath(expr, template);
  const [head, ...rest] = segments;
  switch (head) {
    case 'pipeline':
      return (_m, ctx) => ctx?.pipeline;
    case 'id':
      return (m) => m.id;
    case 'time':
      return (m) => m.time;
    case 'payload':
      return (m) => getPath(m.payload, rest);
    case 'meta': {
      const candidates = metaCandidates(rest);
      return (m) => getMeta(m.meta, candidates);
    }
    case 'topic': {
      if (rest.length !== 1 || typeof rest[0] !== 'number') {
        throw new TemplateError(`template "${template}": use topic[N] for the N-th topic level (from 0)`);
      }
      const level = rest[0];
      return (m) => {
        const topic = m.meta['mqtt.topic'];
        return typeof topic === 'string' ? topicLevel(topic, level) : undefined;
      };
    }
    default:
      throw new TemplateError(
        `template "${template}": unknown name "${String(head)}" (use payload, meta, topic[N], pipeline, id, time or date:FORMAT)`,
      );
  }
}

/** `topic.split('/')[level]` without the array of every level: this runs per message. */
function topicLevel(topic: string, level: number): string | undefined {
  let start = 0;
  for (let n = 0; n < level; n++) {
    const slash = topic.indexOf('/', start);
    if (slash === -1) return undefined;
    start = slash + 1;
  }
  const end = topic.indexOf('/', start);
  return end === -1 ? topic.slice(start) : topic.slice(start, end);
}

/** Parses `a.b[0].c` or `a["x.y"]` into segments. */
export function parsePath(expr: string, template = expr): (string | number)[] {
  let segments;
  try {
    segments = parsePathSegments(expr);
  } catch (error) {
    throw new TemplateError(`template "${template}": ${(error as Error).message}`);
  }
  if (segments.length === 0) throw new TemplateError(`template "${template}": empty {{ }}`);
  if (segments.includes(ANY))
    throw new TemplateError(
      `template "${template}": a wildcard ([*] or *) picks several values, and "${expr}" must give one`,
    );
  return segments as (string | number)[];
}

export function getPath(value: unknown, segments: readonly (string | number)[]): unknown {
  let current = value;
  for (const s of segments) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[s];
  }
  return current;
}

/** Metadata keys contain dots (`mqtt.topic`): match the longest key first, then descend. */
type MetaCandidate = [key: string, rest: readonly (string | number)[]];

/** The keys to try, longest first, joined once when compiled: this runs per message (a deadband status path). */
function metaCandidates(segments: readonly (string | number)[]): MetaCandidate[] {
  const candidates: MetaCandidate[] = [];
  for (let n = segments.length; n > 0; n--)
    candidates.push([segments.slice(0, n).join('.'), segments.slice(n)]);
  return candidates;
}

function getMeta(meta: Record<string, unknown>, candidates: readonly MetaCandidate[]): unknown {
  // Indexes rather than destructuring, which goes through the array iterator until optimised.
  for (let i = 0; i < candidates.length; i++) {
    const candidate = candidates[i] as MetaCandidate;
    if (candidate[0] in meta) return getPath(meta[candidate[0]], candidate[1]);
  }
  return undefined;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

export function formatDate(time: number, format: string): string {
  const d = new Date(time);
  return format.replace(/YYYY|MM|DD|HH|mm|ss|SSS/g, (token) => {
    switch (token) {
      case 'YYYY':
        return String(d.getUTCFullYear());
      case 'MM':
        return pad(d.getUTCMonth() + 1);
      case 'DD':
        return pad(d.getUTCDate());
      case 'HH':
        return pad(d.getUTCHours());
      case 'mm':
        return pad(d.getUTCMinutes());
      case 'ss':
        return pad(d.getUTCSeconds());
      default:
        return pad(d.getUTCMilliseconds(), 3);
    }
  });
}

/** Why a template can not be compiled, or undefined when it can: for config schemas (`superRefine`). */
export function templateProblem(template: string): string | undefined {
  try {
    compileTemplate(template);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
