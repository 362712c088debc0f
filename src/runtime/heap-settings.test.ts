import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  HEAP_GROWING_PERCENT,
  SEMI_SPACE_CAP_MB,
  oldGenerationGrowthSetByUser,
  compilersSetByUser,
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

/** The optimiser fixture in a child process (V8's natives syntax reads a function's tier). */
async function optimizer(
  flags: string[] = [],
): Promise<{ held: boolean; released: boolean; applied: string[] }> {
  const fixture = fileURLToPath(new URL('./fixtures/compilers-hold.mjs', import.meta.url));
  const { stdout } = await run(process.execPath, ['--allow-natives-syntax', ...flags, fixture], {
    env: { ...process.env, NODE_OPTIONS: '', PASSERELLE_V8_FLAGS: '' },
  });
  return JSON.parse(stdout) as { held: boolean; heldBaseline: boolean; released: boolean; applied: string[] };
}

describe('heap settings of passerelle run', () => {
  it('apply by default: young generation held during start-up, grown again under load once released, up to the cap', async () => {
    const sizes = await child();
    expect(sizes.applied.sort()).toEqual([
      'heap-growing-percent',
      'start-up-without-jit',
      'young-generation',
    ]);
    expect(sizes.held).toBeLessThanOrEqual(2 * sizes.initial + 0.5);
    expect(sizes.released).toBeGreaterThanOrEqual(4 * sizes.held);
    expect(sizes.released).toBeLessThanOrEqual(CAPPED_MB);
  }, 60_000);

  it('hold TurboFan and Sparkplug during start-up, and let TurboFan optimise hot code once released', async () => {
    const held = await optimizer();
    expect(held).toEqual({
      held: false,
      heldBaseline: false,
      released: true,
      applied: expect.arrayContaining(['start-up-without-jit']),
    });
    // A user's own compiler flag wins: then the compilers are never held.
    const user = await optimizer(['--max-opt=3']);
    expect(user).toEqual({
      held: true,
      // (Sparkplug's code for it is gone once TurboFan's is there.)
      heldBaseline: false,
      released: true,
      applied: expect.not.arrayContaining(['start-up-without-jit']),
    });
  }, 60_000);

  it("give way to the user's own flags: node's command line, NODE_OPTIONS, PASSERELLE_V8_FLAGS", async () => {
    const flags = await child(['--max-semi-space-size=16', '--heap-growing-percent=50']);
    // (The compilers' start-up hold is a family of its own, left to the test above.)
    expect(flags.applied).toEqual(['start-up-without-jit']);
    expect(flags.held).toBeGreaterThanOrEqual(4 * flags.initial);
    expect(flags.released).toBeGreaterThan(CAPPED_MB);
    const env = await child([], '--max-semi-space-size=16', '--heap-growing-percent=50');
    expect(env.applied).toEqual(['user', 'start-up-without-jit']);
    expect(env.held).toBeGreaterThanOrEqual(4 * env.initial);
    const v8Flags = await child([], '', '--semi-space-growth-factor=2 --optimize-for-size');
    expect(v8Flags.applied).toEqual(['user', 'start-up-without-jit']);
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
    expect(compilersSetByUser([], '')).toBe(false);
    expect(compilersSetByUser(['--max-old-space-size=320'], '--optimize-for-size')).toBe(false);
    expect(compilersSetByUser(['--no-opt'], '')).toBe(true);
    expect(compilersSetByUser([], '', '--turbofan')).toBe(true);
    expect(compilersSetByUser(['--max_opt=2'], '')).toBe(true);
    expect(compilersSetByUser(['--jitless'], '')).toBe(true);
    expect(compilersSetByUser(['--no-sparkplug'], '')).toBe(true);
    expect(HEAP_GROWING_PERCENT).toBeGreaterThan(0);
  });
});
