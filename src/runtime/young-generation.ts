import v8 from 'node:v8';

/**
 * V8 doubles its young generation (semi-spaces of 1 MB up to 16 MB) whenever many objects survive
 * a minor collection. Start-up (module loading, config parsing) does that on its own, so an idle
 * relay kept ~32 MB of young generation it never used again. `passerelle run` holds the growth
 * from its first line until its pipelines are started, then gives V8 its default back: a service
 * under load still grows it as before (same CPU per message), a quiet one keeps it small (issue 17).
 */

/** V8's default for --semi-space-growth-factor. */
const DEFAULT_GROWTH_FACTOR = 2;

/** Young-generation flags given to node itself: then passerelle leaves V8 alone. */
export function youngGenerationSetByUser(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((arg) =>
    /^--(max|min)[-_]semi[-_]space[-_]size|^--semi[-_]space[-_]growth[-_]factor/.test(arg),
  );
}

let held = false;

/** Keeps the young generation at its initial size (until {@link releaseYoungGeneration}). */
export function holdYoungGeneration(): void {
  if (held || youngGenerationSetByUser()) return;
  v8.setFlagsFromString('--semi-space-growth-factor=1');
  held = true;
}

/** Lets V8 grow the young generation again under load, as by default. */
export function releaseYoungGeneration(): void {
  if (!held) return;
  v8.setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH_FACTOR}`);
  held = false;
}

export function youngGenerationHeld(): boolean {
  return held;
}
