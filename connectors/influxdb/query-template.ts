import type { RunWindow } from '../../src/sdk/index.js';

/**
 * The query of the `influxdb` source is a template whose only values are the run's window, rendered
 * by the engine's clock, never from data: `{{ window.start }}`, `{{ window.end }}` (quoted RFC 3339
 * UTC time literals, `'2026-12-04T05:00:00.000Z'`), with a format after a colon: `:ns` (a bare
 * nanosecond epoch, `1796360400000000000`), `:ms` or `:s` (InfluxQL epoch durations, `1796360400000ms`),
 * `:rfc3339` (the same literal without quotes); `{{ window.duration }}` is the window's length as an
 * InfluxQL duration (`86400000ms`) for `GROUP BY time(...)`. Anything else in `{{ }}` is refused when
 * the pipeline is validated.
 */

const PLACEHOLDER = /\{\{([^{}]*)\}\}/g;
const FORMATS = ['rfc3339', 'ns', 'ms', 's'] as const;
type Format = (typeof FORMATS)[number] | 'quoted';
type Part = string | { edge: 'start' | 'end'; format: Format } | { duration: true };

export interface QueryTemplate {
  render(window: RunWindow): string;
  /** True when the query uses the window at all (a query without it reads the same rows every run). */
  readonly usesWindow: boolean;
}

export function compileQueryTemplate(text: string): QueryTemplate {
  const parts: Part[] = [];
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    parts.push(text.slice(last, m.index));
    last = m.index + m[0].length;
    const name = m[1]!.trim();
    const [key, format, extra] = name.split(':').map((s) => s.trim());
    if (key === 'window.duration' && format === undefined) parts.push({ duration: true });
    else if ((key === 'window.start' || key === 'window.end') && extra === undefined) {
      if (format !== undefined && !(FORMATS as readonly string[]).includes(format))
        throw new Error(
          `{{ ${name} }}: unknown format "${format}" (known: ${FORMATS.join(', ')}; none gives a quoted RFC 3339 time)`,
        );
      parts.push({ edge: key === 'window.start' ? 'start' : 'end', format: (format as Format) ?? 'quoted' });
    } else
      throw new Error(
        `{{ ${name} }}: unknown name; the query can use window.start and window.end (with :rfc3339, :ns, :ms or :s) and window.duration`,
      );
  }
  const rest = text.slice(last);
  if (
    rest.includes('{{') ||
    rest.includes('}}') ||
    parts.some((p) => typeof p === 'string' && /\{\{|\}\}/.test(p))
  )
    throw new Error('an unbalanced {{ or }} in the query');
  parts.push(rest);
  return {
    usesWindow: parts.some((p) => typeof p !== 'string'),
    render(window) {
      let out = '';
      for (const p of parts) {
        if (typeof p === 'string') out += p;
        else if ('duration' in p) out += `${Math.max(0, Math.round(window.end - window.start))}ms`;
        else out += renderTime(p.edge === 'start' ? window.start : window.end, p.format);
      }
      return out;
    },
  };
}

/**
 * Milliseconds since the epoch -> nanoseconds. A fraction is kept to the microsecond, the SDK's
 * resolution (a double of today's milliseconds holds no more).
 */
export function msToNs(ms: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e3)) * 1000n;
}

/** RFC 3339 UTC with the nanoseconds that are not zero (InfluxQL reads up to nine digits). */
export function nsToRfc3339(ns: bigint): string {
  const ms = ns / 1_000_000n - (ns % 1_000_000n < 0n ? 1n : 0n);
  const sub = ns - ms * 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // 2026-12-04T05:00:00.123Z
  const fraction = `${iso.slice(20, 23)}${sub.toString().padStart(6, '0')}`.replace(/0+$/, '');
  return `${iso.slice(0, 19)}${fraction ? `.${fraction}` : ''}Z`;
}

function renderTime(ms: number, format: Format): string {
  if (!Number.isFinite(ms)) throw new Error(`window edge is not a time: ${ms}`);
  const ns = msToNs(ms);
  switch (format) {
    case 'quoted':
      return `'${nsToRfc3339(ns)}'`;
    case 'rfc3339':
      return nsToRfc3339(ns);
    case 'ns':
      return ns.toString();
    case 'ms':
      return Number.isInteger(ms) ? `${ms}ms` : `${ns / 1000n}u`;
    case 's':
      return ms % 1000 === 0 ? `${ms / 1000}s` : Number.isInteger(ms) ? `${ms}ms` : `${ns / 1000n}u`;
  }
}
