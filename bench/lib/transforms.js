// What the two transform suites share (transforms.js: each transform alone and chains;
// flow-transforms.js: the stateful ones, deadband with Redis): the built transforms, the context
// they are created and applied with, and the timing of batches through them.
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const { builtinRegistry, loadComponent } = await import(join(root, 'dist/src/registry/index.js'));
const { noopMetrics, silentLogger } = await import(join(root, 'dist/src/sdk/index.js'));

export { builtinRegistry };

/** The transforms flow-transforms.js measures, with configs that fit them; transforms.js leaves them out of its table. */
export const FLOW_TRANSFORMS = ['deadband', 'enrich', 'aggregate', 'decode', 'encode'];
/** The registry holds specs; implementations load on demand (loaded once here, outside the timing). */
export const transforms = await Promise.all(builtinRegistry.transforms.map((spec) => loadComponent(spec)));

/** What a transform's create() gets: silent, no metrics, nothing dead-lettered. */
export function componentContext(component, extra = {}) {
  return {
    pipeline: 'bench',
    component,
    logger: silentLogger,
    metrics: noopMetrics,
    countDropped() {},
    async deadLetter() {},
    ...extra,
  };
}

/** What apply() gets: rejections are counted. */
export function rejectCtx() {
  const ctx = { pipeline: 'bench', component: 'transforms', logger: silentLogger, rejected: 0 };
  ctx.reject = () => void ctx.rejected++;
  return ctx;
}

/**
 * Runs the batches through the stages; returns CPU µs (user + system of this process) and wall µs
 * per input message, the count out and the rejections. With `flushEvery` (one stage that flushes,
 * aggregate), it flushes every that many batches, as the engine would; with `flushAtEnd`, a stage
 * that can flush is flushed at the end.
 */
export async function measure(stages, batches, { flushEvery, flushAtEnd } = {}) {
  const ctx = rejectCtx();
  let out = 0;
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let i = 0; i < batches.length; i++) {
    let current = batches[i];
    for (const stage of stages) {
      const result = stage.apply(current, ctx);
      current = result instanceof Promise ? await result : result;
    }
    out += current.length;
    if (flushEvery && i % flushEvery === 0) out += stages[0].flush(batches[i][0].time).length;
  }
  if (flushAtEnd && stages[0].flush) out += (await stages[0].flush(Number.POSITIVE_INFINITY)).length;
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - wall0;
  const n = batches.reduce((sum, b) => sum + b.length, 0);
  return { cpuUs: (cpu.user + cpu.system) / n, wallUs: (wall * 1000) / n, out, rejected: ctx.rejected };
}

/** The round of median CPU, with the minimum and maximum CPU of all rounds. */
export function median(rounds) {
  const sorted = [...rounds].sort((a, b) => a.cpuUs - b.cpuUs);
  return { ...sorted[Math.floor(sorted.length / 2)], min: sorted[0].cpuUs, max: sorted.at(-1).cpuUs };
}
