import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { appendDurably, writeFileAtomic } from './workbook.js';

/**
 * The files this sink wrote, so that retention never deletes anything else: a file qualifies only
 * when its name follows the `fileName` pattern AND the sink recorded it (in
 * `.passerelle-excel/files`, one name a line, written before the file first appears) or a manifest
 * of this sink names it.
 */
export class OwnFiles {
  private readonly path: string;
  private readonly pattern: RegExp;
  private names = new Set<string>();

  constructor(stateDir: string, fileNameTemplate: string) {
    this.path = join(stateDir, 'files');
    this.pattern = namePattern(fileNameTemplate);
  }

  async load(): Promise<void> {
    const text = await readFile(this.path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '';
      throw error;
    });
    this.names = new Set(text.split('\n').filter((n) => n !== ''));
  }

  async add(name: string): Promise<void> {
    if (this.names.has(name)) return;
    await appendDurably(this.path, `${name}\n`);
    this.names.add(name);
  }

  /** Whether retention may remove `name` from `directory`. */
  async mayRemove(directory: string, name: string): Promise<boolean> {
    if (!this.pattern.test(name)) return false;
    if (this.names.has(name)) return true;
    try {
      const manifest = JSON.parse(await readFile(join(directory, `${name}.manifest.json`), 'utf8')) as {
        file?: unknown;
        sha256?: unknown;
      };
      return manifest.file === name && typeof manifest.sha256 === 'string';
    } catch {
      return false;
    }
  }

  async forget(removed: readonly string[]): Promise<void> {
    if (removed.length === 0) return;
    for (const name of removed) this.names.delete(name);
    await writeFileAtomic(this.path, [...this.names].map((n) => `${n}\n`).join(''));
  }
}

/**
 * The names the `fileName` template can give: its literal parts (cleaned as file names are), any
 * text for each `{{ }}`, an optional part suffix `-2`, `.xlsx`.
 */
export function namePattern(template: string): RegExp {
  const literals = template
    .split(/\{\{[^}]*\}\}/)
    // eslint-disable-next-line no-control-regex -- the same characters the file namer replaces
    .map((part) => part.replace(/[/\\\u0000-\u001f<>:"|?*]/g, '_'));
  const last = literals.length - 1;
  literals[last] = literals[last]!.replace(/\.xlsx$/i, '');
  const body = literals.map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^_?${body}(?:-\\d+)?\\.xlsx$`, 'is');
}
