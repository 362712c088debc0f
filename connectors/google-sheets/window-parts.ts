/** `{{ window.start:F }}` and `{{ window.end:F }}` parts of a `rotate: run` tab template. */
export const WINDOW_PART = /\{\{\s*window\.(start|end):([^}]*?)\s*\}\}/g;

/** The template with its window parts as `{{ date:F }}`: what the template engine checks and compiles. */
export function withoutWindowParts(template: string): string {
  return template.replace(WINDOW_PART, '{{ date:$2 }}');
}
