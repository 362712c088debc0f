import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  HEAP_GROWING_PERCENT,
  SEMI_SPACE_CAP_MB,
  oldGenerationGrowthSetByUser,
  youngGenerationSetByUser,
} from './heap-settings.js';

const run = promisify(execFile);
/** The young generation at the cap (two semi-spaces), in the fixture's unit (MB). */
const CAPPED_MB = (2 * SEMI_SPACE_CAP_MB * 2 ** 20) / 1e6;

interface Sizes {
  initial: number;
  held: number;
  released: number;
  applied: string[];
}

/** The fixture in a child process: `flags` on node's command line, `nodeOptions` as NODE_OPTIONS. */
async function child(flags: string[] = [], nodeOptions = '', v8Flags = ''): Promise<Sizes> {
  const fixture = fileURLToPath(new URL('./fixtures/heap-settings.mjs', import.meta.url));
  const { stdout } = await run(process.execPath, [...flags, fixture], {
    env: { ...process.env, NODE_OPTIONS: nodeOptions, PASSERELLE_V8_FLAGS: v8Flags },
  });
  return JSON.parse(stdout) as Sizes;
}

describe('heap settings of passerelle run', () => {
  it('apply by default: young generation held during start-up, grown again under load once released, up to the cap', async () => {
    const sizes = await child();
    expect(sizes.applied.sort()).toEqual(['heap-growing-percent', 'young-generation']);
    expect(sizes.held).toBeLessThanOrEqual(2 * sizes.initial + 0.5);
    expect(sizes.released).toBeGreaterThanOrEqual(4 * sizes.held);
    expect(sizes.released).toBeLessThanOrEqual(CAPPED_MB);
  }, 60_000);

  it("give way to the user's own flags: node's command line, NODE_OPTIONS, PASSERELLE_V8_FLAGS", async () => {
    const flags = await child(['--max-semi-space-size=16', '--heap-growing-percent=50']);
    expect(flags.applied).toEqual([]);
    expect(flags.held).toBeGreaterThanOrEqual(4 * flags.initial);
    expect(flags.released).toBeGreaterThan(CAPPED_MB);
    const env = await child([], '--max-semi-space-size=16', '--heap-growing-percent=50');
    expect(env.applied).toEqual(['user']);
    expect(env.held).toBeGreaterThanOrEqual(4 * env.initial);
    const v8Flags = await child([], '', '--semi-space-growth-factor=2 --optimize-for-size');
    expect(v8Flags.applied).toEqual(['user']);
    expect(v8Flags.held).toBeGreaterThanOrEqual(4 * v8Flags.initial);
  }, 60_000);

  it('recognise the flag families in either spelling', () => {
    expect(youngGenerationSetByUser([], '')).toBe(false);
    expect(youngGenerationSetByUser(['--max-old-space-size=320'], '--enable-source-maps')).toBe(false);
    expect(youngGenerationSetByUser(['--max-semi-space-size=4'], '')).toBe(true);
    expect(youngGenerationSetByUser([], '--max-old-space-size=320 --max-semi-space-size=1')).toBe(true);
    expect(youngGenerationSetByUser(['--semi_space_growth_factor=4'], '')).toBe(true);
    expect(youngGenerationSetByUser([], '--min-semi-space-size=2')).toBe(true);
    expect(youngGenerationSetByUser([], '--max-heap-size=300')).toBe(true);
    expect(oldGenerationGrowthSetByUser(['--max-old-space-size=320'], '')).toBe(false);
    expect(oldGenerationGrowthSetByUser([], '--heap_growing_percent=50')).toBe(true);
    expect(oldGenerationGrowthSetByUser(['--optimize-for-size'], '')).toBe(true);
    expect(oldGenerationGrowthSetByUser([], '', '--heap-growing-percent=50')).toBe(true);
    expect(youngGenerationSetByUser([], '', '--optimize-for-size')).toBe(false);
    expect(HEAP_GROWING_PERCENT).toBeGreaterThan(0);
  });
});
