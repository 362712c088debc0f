/**
 * Secret values resolved from `${env:...}` / `${file:...}` references are registered here, and every
 * text the service prints (logs, errors, status) goes through `redact()`.
 */
const secrets = new Set<string>();

export function registerSecret(value: string): void {
  // Very short values would redact unrelated text; they are still never printed through config dumps.
  if (value.length >= 4) secrets.add(value);
}

export function redact(text: string): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('***');
  // Credentials in URLs (mqtt://user:pass@host) are hidden whatever their origin.
  return out.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)[^@\s/]+@/gi, '$1***@');
}

export function clearSecretsForTests(): void {
  secrets.clear();
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
