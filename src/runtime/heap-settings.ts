import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

/**
 * V8 settings `passerelle run` applies to itself (issue 17, docs/operations.md "Memory"). Node
 * reads its flags before our first line, and re-executing node to add some would cost a second
 * process, so every setting here is one V8 reads again at run time (`v8.setFlagsFromString`).
 * A flag of the same family given to node itself (command line or NODE_OPTIONS) or in
 * $PASSERELLE_V8_FLAGS wins: passerelle then leaves that family alone. NODE_OPTIONS accepts only a
 * few V8 flags (--max-semi-space-size, --max-old-space-size, not --heap-growing-percent), so
 * PASSERELLE_V8_FLAGS carries the others where the node command line is out of reach (containers).
 *
 * - Old generation: V8 collects old space when it has grown by a factor it derives from GC and
 *   mutator speed (up to 4x for a 2 GB limit). A flood's messages survive two scavenges, are
 *   promoted and die there, so the peak is mostly garbage awaiting that collection.
 *   `--heap-growing-percent` fixes the factor.
 * - Young generation: V8 doubles the semi-spaces (1 MB up to 16 MB each) when many objects
 *   survive a scavenge. Start-up alone did that, so an idle relay kept ~32 MB of young generation
 *   it never used again: growth is held until the pipelines are started
 *   ({@link releaseYoungGeneration}), then V8 grows it under load up to 8 MB semi-spaces, which
 *   takes ~16 MB off a flood's peak for more frequent scavenges (4 MB semi-spaces were measured:
 *   several times the GC work).
 * - JIT compilers: start-up (module resolution, Node's CommonJS export lexer, config
 *   validation, mathjs building its unit functions) is hot enough for TurboFan to compile ~60
 *   functions that never run again. Compiling them paged in ~4 MB of the node binary's compiler
 *   code and left ~4 MB of compiler memory in malloc's arenas: ~8 MB of an idle relay's RSS.
 *   Sparkplug's baseline code for start-up functions was another ~0.5 MB of heap that V8 never
 *   flushes. Both are off until the pipelines are started ({@link releaseCompilers}); the message
 *   path is compiled as before once it runs hot.
 */

/** V8's default for --semi-space-growth-factor. */
const DEFAULT_GROWTH_FACTOR = 2;

/**
 * Largest semi-space V8 may grow to under load, MiB (V8's own maximum is 16 on 64-bit; the
 * young generation is two of them). V8 grows by doubling (1, 2, 4, 8, 16), so 8 is the one step
 * between the 4 MB measured as too costly and V8's 16.
 */
export const SEMI_SPACE_CAP_MB = 8;

/** Old space grows by this percentage before V8 collects it again (V8: 10 % to 300 %, dynamic). */
export const HEAP_GROWING_PERCENT = 50;

/** V8 flags for passerelle to set at its start, space-separated (any V8 flag; the operator's). */
const v8FlagsFromEnv = (): string => process.env.PASSERELLE_V8_FLAGS ?? '';

/** Whether a flag the user gave (node's command line, NODE_OPTIONS, PASSERELLE_V8_FLAGS) matches `family`. */
function setByUser(
  family: RegExp,
  execArgv: readonly string[],
  nodeOptions: string,
  v8Flags: string,
): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/), ...v8Flags.split(/\s+/)].some((arg) => family.test(arg));
}

const YOUNG_GENERATION_FLAGS =
  /^--(max|min)[-_]semi[-_]space[-_]size|^--semi[-_]space[-_]growth[-_]factor|^--max[-_]heap[-_]size/;
const OLD_GENERATION_GROWTH_FLAGS = /^--heap[-_]growing[-_]percent|^--optimize[-_]for[-_]size/;

/** Young-generation flags given to node itself: then passerelle leaves the young generation alone. */
export function youngGenerationSetByUser(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
  v8Flags: string = v8FlagsFromEnv(),
): boolean {
  return setByUser(YOUNG_GENERATION_FLAGS, execArgv, nodeOptions, v8Flags);
}

/** Old-generation growth flags given to node itself: then passerelle leaves the growth alone. */
export function oldGenerationGrowthSetByUser(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
  v8Flags: string = v8FlagsFromEnv(),
): boolean {
  return setByUser(OLD_GENERATION_GROWTH_FLAGS, execArgv, nodeOptions, v8Flags);
}

const applied = new Set<string>();
let held = false;
let growthFactor = DEFAULT_GROWTH_FACTOR;
let capObserver: PerformanceObserver | undefined;
const MiB = 2 ** 20;

/**
 * The settings of `passerelle run`, from its first line (bin/passerelle.js): old-space growth,
 * and the young generation held at its initial size until {@link releaseYoungGeneration}.
 */
export function applyHeapSettings(): void {
  if (!applied.has('user') && v8FlagsFromEnv().trim()) {
    v8.setFlagsFromString(v8FlagsFromEnv());
    applied.add('user');
  }
  if (!applied.has('heap-growing-percent') && !oldGenerationGrowthSetByUser()) {
    v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    applied.add('heap-growing-percent');
  }
  holdYoungGeneration();
  holdCompilers();
}

const COMPILER_FLAGS = /^--(no[-_])?(turbofan|opt|max[-_]opt|jitless|maglev|sparkplug)\b/;

/** JIT-compiler flags given to node itself: then passerelle leaves the compilers alone. */
export function compilersSetByUser(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
  v8Flags: string = v8FlagsFromEnv(),
): boolean {
  return setByUser(COMPILER_FLAGS, execArgv, nodeOptions, v8Flags);
}

let compilersHeld = false;

/**
 * TurboFan and Sparkplug off until {@link releaseCompilers}: start-up code runs once, in the
 * interpreter (V8 reads both flags at each tier-up decision).
 */
export function holdCompilers(): void {
  if (compilersHeld || compilersSetByUser()) return;
  v8.setFlagsFromString('--no-turbofan --no-sparkplug');
  compilersHeld = true;
  applied.add('start-up-without-jit');
}

/** TurboFan and Sparkplug on again: called once the pipelines run (and before a `run --once`). */
export function releaseCompilers(): void {
  if (!compilersHeld) return;
  v8.setFlagsFromString('--turbofan --sparkplug');
  compilersHeld = false;
}

/** Keeps the young generation at its initial size (until {@link releaseYoungGeneration}). */
export function holdYoungGeneration(): void {
  if (held || youngGenerationSetByUser()) return;
  capObserver?.disconnect();
  setGrowthFactor(1);
  held = true;
  applied.add('young-generation');
}

/**
 * Lets V8 grow the young generation again under load, up to {@link SEMI_SPACE_CAP_MB}: V8 reads
 * `--max-semi-space-size` only at start, but the growth factor at each growth, so after every GC
 * the factor is 1 once the cap is reached and V8's 2 below it (V8 also shrinks the young
 * generation when the load stops).
 */
export function releaseYoungGeneration(): void {
  if (!held) return;
  held = false;
  const followCap = (): void =>
    setGrowthFactor(youngGenerationBytes() >= 2 * SEMI_SPACE_CAP_MB * MiB ? 1 : DEFAULT_GROWTH_FACTOR);
  followCap();
  capObserver = new PerformanceObserver(followCap);
  capObserver.observe({ entryTypes: ['gc'] });
}

function setGrowthFactor(factor: number): void {
  if (factor === growthFactor) return;
  v8.setFlagsFromString(`--semi-space-growth-factor=${factor}`);
  growthFactor = factor;
}

/** Both semi-spaces, as V8 reports the young generation's size. */
function youngGenerationBytes(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

export function youngGenerationHeld(): boolean {
  return held;
}

/** Which defaults this process applied (`user`: $PASSERELLE_V8_FLAGS): for tests and logs. */
export function appliedHeapSettings(): string[] {
  return [...applied];
}
