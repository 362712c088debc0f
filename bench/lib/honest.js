// Honest benchmarks (issue 17): a run writes docs/benchmarks.md only when the machine was quiet,
// the code is HEAD as committed, and every verdict holds as written. The decisions are small pure
// functions (tested in test/bench/honest.test.ts); the /proc readings around them live in
// QuietGuard. See bench/README.md, "Honest results".
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { machineBusySeconds, treeCpuSeconds } from './procs.js';

/** Cores other processes may use, on average over a measured window, before a run refuses to write. */
export const FOREIGN_LIMIT = 0.2;
/** The machine counts as saturated when this share of all its cores is busy. */
export const SATURATED_SHARE = 0.9;

const truthy = (v) => ['1', 'true', 'yes'].includes(String(v ?? '').toLowerCase());

/**
 * Development mode: BENCH_DRY=1 (or BENCH_NO_WRITE=1, or `--no-write`). The bench runs on a busy
 * machine and prints its section, and never writes docs/benchmarks.md.
 */
export function isDryRun(env = process.env, argv = process.argv) {
  return truthy(env.BENCH_DRY) || truthy(env.BENCH_NO_WRITE) || argv.includes('--no-write');
}

/**
 * Average cores used by processes outside the bench between two readings:
 * (machine busy seconds − the bench tree's CPU seconds) / wall seconds. A reading is
 * `{ machine, tree, at }` (seconds of CPU, seconds of CPU, milliseconds of wall clock).
 */
export function foreignCores(a, b) {
  const wall = (b.at - a.at) / 1000;
  const foreign = b.machine - a.machine - (b.tree - a.tree);
  if (!(wall > 0) || !Number.isFinite(foreign)) return NaN;
  return Math.max(0, foreign / wall);
}

/**
 * Whether a run may write its results. `windows`: `[{ label, cores }]`, the other processes' CPU
 * over the check before the run and over each measured phase. Unreadable figures refuse too.
 */
export function quietVerdict(windows, limit = FOREIGN_LIMIT) {
  const reasons = [];
  if (windows.length === 0) reasons.push('no CPU reading was taken');
  for (const w of windows) {
    if (!Number.isFinite(w.cores)) reasons.push(`${w.label}: other processes' CPU could not be read`);
    else if (w.cores > limit)
      reasons.push(`${w.label}: other processes used ${w.cores.toFixed(2)} cores (limit ${limit})`);
  }
  return { quiet: reasons.length === 0, reasons };
}

/**
 * Whether to write docs/benchmarks.md: never in dry mode, never for code that is not HEAD as
 * committed, never when the machine was busy, never for a partial run unless asked (BENCH_WRITE=1).
 */
export function writeDecision({ dry, quiet, commit, partial = false, forceWrite = false }) {
  if (dry)
    return { write: false, reason: 'dry run (BENCH_DRY / BENCH_NO_WRITE / --no-write): nothing written' };
  if (/uncommitted/.test(commit))
    return { write: false, reason: `the code differs from HEAD (${commit}): commit first, nothing written` };
  if (!quiet.quiet)
    return {
      write: false,
      reason: `REFUSED: the machine was not quiet, nothing written (${quiet.reasons.join('; ')})`,
    };
  if (partial && !forceWrite)
    return { write: false, reason: 'partial run: nothing written (BENCH_WRITE=1 to write it anyway)' };
  return { write: true, reason: 'written' };
}

/**
 * One target: PASS only when `measured op threshold` holds as written. `kind` names what is
 * compared ('wall s', 'cpu s', 'MB', 'msg/s'...): a target is judged only by a figure of its own
 * kind (a wall-time target by a CPU time throws). `invalid`: why the figure does not measure what
 * the target is about (then "not measured", never PASS).
 */
export function verdict({ measured, op, threshold, kind, measuredKind = kind, invalid }) {
  if (measuredKind !== kind)
    throw new Error(`a target in ${kind} cannot be judged by a figure in ${measuredKind}`);
  if (invalid) return { result: 'not measured', why: invalid };
  if (measured == null || threshold == null || !Number.isFinite(measured) || !Number.isFinite(threshold))
    return {
      result: 'not measured',
      why: measured == null || !Number.isFinite(measured) ? 'no figure' : 'no baseline',
    };
  const holds = op === '<=' ? measured <= threshold : op === '>=' ? measured >= threshold : null;
  if (holds === null) throw new Error(`unknown comparison ${op}`);
  return { result: holds ? 'PASS' : 'FAIL' };
}

/** The machine was saturated: `busyCores` (all processes) at least SATURATED_SHARE of `cores`. */
export function saturated(busyCores, cores) {
  return Number.isFinite(busyCores) && busyCores >= SATURATED_SHARE * cores;
}

/**
 * Throughput at least `factor` × the baseline's. When both runs kept the whole machine busy, the
 * figures are bounded by the machine rather than by either relay: the verdict stands as written
 * but says so (`ceiling`), and CPU per message is the figure that tells the relays apart.
 */
export function throughputVerdict({ measured, baseline, factor, measuredBusy, baselineBusy, cores }) {
  const v = verdict({
    measured: measured ?? null,
    op: '>=',
    threshold: baseline == null ? null : baseline * factor,
    kind: 'msg/s',
  });
  if (v.result !== 'not measured' && saturated(measuredBusy, cores) && saturated(baselineBusy, cores))
    return {
      ...v,
      ceiling: `both runs at the machine's ceiling (${measuredBusy.toFixed(2)} and ${baselineBusy.toFixed(2)} of ${cores} cores busy): the throughput compares the machine, not the relays`,
    };
  return v;
}

/** "PASS", "**FAIL**", "**not measured** (why)", with the ceiling caveat when there is one. */
export function renderResult(v) {
  if (v.result === 'PASS') return v.ceiling ? `PASS, at the machine's ceiling: ${v.ceiling}` : 'PASS';
  if (v.result === 'FAIL') return v.ceiling ? `**FAIL**, at the machine's ceiling: ${v.ceiling}` : '**FAIL**';
  return `**not measured**${v.why ? ` (${v.why})` : ''}`;
}

function reading(pid) {
  return { machine: machineBusySeconds(), tree: treeCpuSeconds(pid), at: Date.now() };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Watches the rest of the machine for one suite: `before()` samples it for a few seconds before
 * anything starts; `phase(label)` ... `end()` wraps each measured phase; `verdict()` judges them
 * all. Every window is also kept for the report. `samples` holds 1-second readings of the whole
 * run (the worst one is shown; the judgement is on the windows).
 */
export class QuietGuard {
  constructor({ suite, limit = FOREIGN_LIMIT, pid = process.pid, dry = isDryRun() } = {}) {
    this.suite = suite;
    this.limit = limit;
    this.pid = pid;
    this.dry = dry;
    this.windows = [];
    this.cores = cpus().length;
  }

  /** Samples the machine for `seconds` before the run; refuses to go on (unless dry) when busy. */
  async before(seconds = Number(process.env.BENCH_QUIET_SECONDS ?? 5)) {
    const a = reading(this.pid);
    await sleep(seconds * 1000);
    const cores = foreignCores(a, reading(this.pid));
    this.windows.push({ label: 'before the run', cores });
    const v = quietVerdict([{ label: 'before the run', cores }], this.limit);
    const note = `${this.suite}: other processes used ${Number.isFinite(cores) ? cores.toFixed(2) : '?'} cores over ${seconds} s before the run`;
    if (v.quiet) console.error(`${note} (quiet)`);
    else if (this.dry) console.error(`${note}: busy; dry run, going on (nothing will be written)`);
    else {
      console.error(
        `${note}: REFUSED, the machine is busy (limit ${this.limit}). Results would not describe passerelle. ` +
          'Try again on a quiet machine, or BENCH_DRY=1 to run anyway without writing docs/benchmarks.md.',
      );
      return false;
    }
    return true;
  }

  /** Starts a measured window; `stop()` returns the other processes' cores and the machine's busy cores. */
  phase(label) {
    const a = reading(this.pid);
    return {
      stop: () => {
        const b = reading(this.pid);
        const cores = foreignCores(a, b);
        const wall = (b.at - a.at) / 1000;
        const busy = wall > 0 ? (b.machine - a.machine) / wall : NaN;
        this.windows.push({ label, cores });
        return { foreignCores: cores, machineBusyCores: busy };
      },
    };
  }

  verdict() {
    return quietVerdict(this.windows, this.limit);
  }

  /** Writes `section` between `start` and `end` in `file` when allowed; returns the decision. */
  write(file, start, end, section, { partial = false, forceWrite = false } = {}) {
    const decision = writeDecision({
      dry: this.dry,
      quiet: this.verdict(),
      commit: measuredCommit(),
      partial,
      forceWrite,
    });
    if (decision.write) replaceSection(file, start, end, section);
    console.error(`${this.suite}: ${decision.write ? `wrote ${file}` : decision.reason}`);
    return decision;
  }
}

/** Replaces the text between two markers (the markers are added at the end when missing). */
export function replaceSection(file, start, end, section) {
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a === -1 || b === -1 || b < a) text = `${text.trimEnd()}\n\n${start}\n${end}\n`;
  const s = text.indexOf(start);
  const e = text.indexOf(end);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${text.slice(0, s + start.length)}\n${section.trim()}\n${text.slice(e)}`);
}

/** The heading every section starts with: what, when, which commit. */
export function sectionHeading(title, date = new Date()) {
  return `## ${title} — ${date.toISOString().replace(/\.\d+Z$/, 'Z')}, commit ${measuredCommit()}`;
}

/** The line under each heading: whether the machine was quiet, window by window. */
export function quietLine(guard) {
  const shown = guard.windows
    .map((w) => `${w.label} ${Number.isFinite(w.cores) ? w.cores.toFixed(2) : '?'}`)
    .join(', ');
  return `Other processes' CPU (cores, limit ${guard.limit}): ${shown || 'not read'}.`;
}

/** The commit a run measured: the short hash, marked when the code differs from it (results written by an earlier suite of the same run do not count). */
export function measuredCommit() {
  const git = (...args) => spawnSync('git', args, { encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD').stdout.trim() || 'unknown';
  const dirty =
    git('status', '--porcelain', '--untracked-files=no', '--', '.', ':!docs/benchmarks.md').stdout.trim() !==
    '';
  return dirty ? `${head} with uncommitted changes` : head;
}
