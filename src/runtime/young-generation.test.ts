import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { youngGenerationSetByUser } from './young-generation.js';

const run = promisify(execFile);

describe('young generation held during start-up', () => {
  it('stays at its initial size while held, and grows again under load once released', async () => {
    const child = fileURLToPath(new URL('./fixtures/young-generation.mjs', import.meta.url));
    const { stdout } = await run(process.execPath, [child], { env: { ...process.env, NODE_OPTIONS: '' } });
    const sizes = JSON.parse(stdout) as { initial: number; held: number; released: number };
    expect(sizes.held).toBeLessThanOrEqual(2 * sizes.initial + 0.5);
    expect(sizes.released).toBeGreaterThanOrEqual(4 * sizes.held);
  }, 60_000);

  it('leaves V8 alone when node was given a young-generation flag', () => {
    expect(youngGenerationSetByUser([], '')).toBe(false);
    expect(youngGenerationSetByUser(['--max-old-space-size=320'], '--enable-source-maps')).toBe(false);
    expect(youngGenerationSetByUser(['--max-semi-space-size=4'], '')).toBe(true);
    expect(youngGenerationSetByUser([], '--max-old-space-size=320 --max-semi-space-size=1')).toBe(true);
    expect(youngGenerationSetByUser(['--semi_space_growth_factor=4'], '')).toBe(true);
    expect(youngGenerationSetByUser([], '--min-semi-space-size=2')).toBe(true);
  });
});
