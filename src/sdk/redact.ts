/**
 * Secret values resolved from `${env:...}` / `${file:...}` references are registered here, and every
 * text the service prints (logs, errors, status) goes through `redact()`; structured values (log
 * fields, API bodies) go through `redactValue()` before they are serialised, so the masking sees
 * each string as it is and not an escaped form of it.
 *
 * A secret is also looked for in the forms other layers give it: JSON-escaped (once and twice, for
 * text that already holds JSON) and percent-encoded (in URLs). Secrets of 4 characters or more are
 * masked wherever they appear; shorter ones only where they stand alone (not inside a longer word),
 * as masking every `ab` of a message would make it unreadable.
 */
const MASK = '***';
const SHORT = 4;

/** Every form of every secret, longest first (a form must not be half-masked by a shorter one). */
let forms: string[] = [];
/** Forms of short secrets, as one regular expression that matches them as whole words. */
let shortPattern: RegExp | undefined;
const secrets = new Set<string>();

function formsOf(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  const url = new URL('http://h');
  url.password = secret;
  return [secret, json, JSON.stringify(json).slice(1, -1), encodeURIComponent(secret), url.password];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function rebuild(): void {
  const long = new Set<string>();
  const short = new Set<string>();
  for (const secret of secrets)
    for (const form of formsOf(secret)) (form.length >= SHORT ? long : short).add(form);
  forms = [...long].sort((a, b) => b.length - a.length);
  const shortForms = [...short].sort((a, b) => b.length - a.length).map(escapeRegExp);
  shortPattern =
    shortForms.length > 0
      ? new RegExp(`(?<![\\p{L}\\p{N}_])(?:${shortForms.join('|')})(?![\\p{L}\\p{N}_])`, 'gu')
      : undefined;
}

export function registerSecret(value: string): void {
  if (value === '' || secrets.has(value)) return;
  secrets.add(value);
  rebuild();
}

// Credentials in URLs (mqtt://user:pass@host, redis://:pass@host) are hidden whatever their origin.
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s/]+@/gi;

export function redact(text: string): string {
  let out = text;
  for (const form of forms) if (out.includes(form)) out = out.split(form).join(MASK);
  if (shortPattern) out = out.replace(shortPattern, MASK);
  return out.replace(URL_PASSWORD, `$1${MASK}@`);
}

/** Deeper than this, a logged value is cut: nothing printed needs it, and recursion must end. */
const MAX_DEPTH = 32;

/**
 * A copy of a value with every string (and key) redacted, for structured output before it is
 * serialised. Errors become `{ type, message, stack }` (what the logs print for them); cycles
 * become "[Circular]". The input is not changed.
 */
export function redactValue(value: unknown): unknown {
  const ancestors: object[] = [];
  const visit = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return redact(v);
    if (v === null || typeof v !== 'object') return v;
    if (ArrayBuffer.isView(v) || v instanceof Date) return v;
    if (ancestors.includes(v)) return '[Circular]';
    if (depth >= MAX_DEPTH) return '[nested too deep]';
    ancestors.push(v);
    try {
      if (v instanceof Error) {
        const out: Record<string, unknown> = {
          type: v.name,
          message: redact(v.message),
          ...(v.stack !== undefined ? { stack: redact(v.stack) } : {}),
        };
        for (const [k, child] of Object.entries(v)) out[redact(k)] = visit(child, depth + 1);
        if (v.cause !== undefined) out.cause = visit(v.cause, depth + 1);
        return out;
      }
      if (Array.isArray(v)) return v.map((item) => visit(item, depth + 1));
      const out: Record<string, unknown> = {};
      for (const [k, child] of Object.entries(v))
        Object.defineProperty(out, redact(k), {
          value: visit(child, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      return out;
    } finally {
      ancestors.pop();
    }
  };
  return visit(value, 0);
}

export function clearSecretsForTests(): void {
  secrets.clear();
  rebuild();
}

/** The URL without its user info (user name and password), for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return redact(url);
  }
}
