import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

/**
 * `${env:NAME}` and `${file:PATH}` references in string values. `$${` writes a literal `${`.
 * A relative file path is resolved against the folder of the pipeline file, so a pipeline does
 * not change meaning with the working directory.
 */

export interface InterpolationOptions {
  env: Record<string, string | undefined>;
  /** Folder against which relative `${file:...}` paths resolve. */
  baseDir: string;
}

export interface Reference {
  kind: 'env' | 'file';
  target: string;
  value: string;
}

export interface Interpolated {
  value: string;
  references: Reference[];
  errors: string[];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function hasInterpolation(text: string): boolean {
  return text.includes('${');
}

export function interpolate(text: string, options: InterpolationOptions): Interpolated {
  const references: Reference[] = [];
  const errors: string[] = [];
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    if (text.startsWith('$${', dollar)) {
      out += '${';
      i = dollar + 3;
      continue;
    }
    if (!text.startsWith('${', dollar)) {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    if (close < 0) {
      errors.push(`unclosed "\${" (write "$\${" for a literal "\${")`);
      out += text.slice(dollar);
      break;
    }
    const body = text.slice(dollar + 2, close);
    i = close + 1;
    const resolved = resolveReference(body, options);
    if ('error' in resolved) {
      errors.push(resolved.error);
      continue;
    }
    references.push(resolved);
    out += resolved.value;
  }
  return { value: out, references, errors };
}

function resolveReference(body: string, options: InterpolationOptions): Reference | { error: string } {
  const colon = body.indexOf(':');
  const kind = colon < 0 ? body : body.slice(0, colon);
  const target = colon < 0 ? '' : body.slice(colon + 1).trim();
  if (kind === 'env') {
    if (!ENV_NAME.test(target)) return { error: `invalid environment variable name in "\${${body}}"` };
    const value = options.env[target];
    if (value === undefined) return { error: `environment variable ${target} is not set` };
    return { kind: 'env', target, value };
  }
  if (kind === 'file') {
    if (!target) return { error: `missing path in "\${${body}}"` };
    const path = isAbsolute(target) ? target : resolve(options.baseDir, target);
    try {
      // One trailing newline is what editors and `echo` add; it is never part of the secret.
      const value = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
      return { kind: 'file', target, value };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason =
        code === 'ENOENT'
          ? 'no such file'
          : code === 'EACCES'
            ? 'permission denied'
            : code === 'EISDIR'
              ? 'is a folder'
              : String(code ?? error);
      return { error: `cannot read file ${target}: ${reason}` };
    }
  }
  return {
    error: `unknown reference "\${${body}}": use \${env:NAME} or \${file:PATH} (write $\${ for a literal \${)`,
  };
}
