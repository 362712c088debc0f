/**
 * Every YAML block of the documentation parses: a user copies them as they are. (The InfluxDB
 * README once showed `tags: { device: payload.deviceId, site: topic[0] }`, which YAML refuses.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = new URL('../', import.meta.url).pathname;

function markdownFiles(): string[] {
  const files = ['README.md'];
  for (const f of readdirSync(join(root, 'docs'))) if (f.endsWith('.md')) files.push(`docs/${f}`);
  for (const dir of ['connectors', 'src/transforms'])
    for (const d of readdirSync(join(root, dir), { withFileTypes: true }))
      if (d.isDirectory())
        for (const f of readdirSync(join(root, dir, d.name)))
          if (f === 'README.md') files.push(`${dir}/${d.name}/${f}`);
  return files;
}

/** The ```yaml / ```yml blocks of a Markdown file, with the line they start on. */
export function yamlBlocks(text: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```ya?ml\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !/^\s*```\s*$/.test(lines[j]!)) body.push(lines[j++]!.slice(indent));
    blocks.push({ line: i + 1, code: body.join('\n') });
    i = j;
  }
  return blocks;
}

describe('YAML in the documentation', () => {
  const files = markdownFiles();

  it('finds the blocks of README.md, docs/ and every component README', () => {
    expect(files).toContain('connectors/influxdb/README.md');
    expect(files.flatMap((f) => yamlBlocks(readFileSync(join(root, f), 'utf8'))).length).toBeGreaterThan(40);
  });

  it.each(files)('%s: every YAML block parses', (file) => {
    const problems: string[] = [];
    for (const block of yamlBlocks(readFileSync(join(root, file), 'utf8')))
      for (const doc of parseAllDocuments(block.code)) {
        // The first error of a block: the rest mostly follow from it.
        const error = 'errors' in doc ? doc.errors[0] : undefined;
        if (error) problems.push(`${file}:${block.line}: ${error.message.split('\n')[0]}`);
      }
    expect(problems).toEqual([]);
  });
});
