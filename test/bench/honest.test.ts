import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  foreignCores,
  isDryRun,
  quietVerdict,
  renderResult,
  replaceSection,
  throughputVerdict,
  verdict,
  writeDecision,
} from '../../bench/lib/honest.js';

const quiet = { quiet: true, reasons: [] };

describe('bench refusal: other processes CPU', () => {
  it('is the machine busy time minus the bench tree, per wall second', () => {
    // 10 s: the machine was busy 6 CPU-s, the bench used 4 of them: 0.2 cores for the rest.
    const a = { machine: 100, tree: 50, at: 0 };
    expect(foreignCores(a, { machine: 106, tree: 54, at: 10_000 })).toBeCloseTo(0.2, 10);
    // The bench's own children (broker, relay, busy processes) never count as others.
    expect(foreignCores(a, { machine: 120, tree: 70, at: 10_000 })).toBe(0);
    expect(foreignCores(a, { machine: 100, tree: 50, at: 0 })).toBeNaN();
  });

  it('refuses when any window is above 0.2 cores, or unreadable; 0.2 itself is quiet', () => {
    expect(quietVerdict([{ label: 'before', cores: 0.2 }])).toEqual(quiet);
    const busy = quietVerdict([
      { label: 'before', cores: 0.05 },
      { label: 'tuned/bare-q0 flood', cores: 0.21 },
    ]);
    expect(busy.quiet).toBe(false);
    expect(busy.reasons).toEqual(['tuned/bare-q0 flood: other processes used 0.21 cores (limit 0.2)']);
    expect(quietVerdict([{ label: 'before', cores: NaN }]).quiet).toBe(false);
    expect(quietVerdict([]).quiet).toBe(false);
  });

  it('writes only a quiet, committed, complete, non-dry run', () => {
    expect(writeDecision({ dry: false, quiet, commit: 'abc1234' }).write).toBe(true);
    expect(writeDecision({ dry: true, quiet, commit: 'abc1234' }).write).toBe(false);
    const busy = writeDecision({
      dry: false,
      quiet: { quiet: false, reasons: ['x: other processes used 1.50 cores (limit 0.2)'] },
      commit: 'abc1234',
    });
    expect(busy).toEqual({
      write: false,
      reason:
        'REFUSED: the machine was not quiet, nothing written (x: other processes used 1.50 cores (limit 0.2))',
    });
    expect(writeDecision({ dry: false, quiet, commit: 'abc1234 with uncommitted changes' }).write).toBe(
      false,
    );
    expect(writeDecision({ dry: false, quiet, commit: 'abc1234', partial: true }).write).toBe(false);
    expect(
      writeDecision({ dry: false, quiet, commit: 'abc1234', partial: true, forceWrite: true }).write,
    ).toBe(true);
  });

  it('dry mode from BENCH_DRY, BENCH_NO_WRITE or --no-write', () => {
    expect(isDryRun({}, ['node', 'x.js'])).toBe(false);
    expect(isDryRun({ BENCH_DRY: '1' }, [])).toBe(true);
    expect(isDryRun({ BENCH_NO_WRITE: 'yes' }, [])).toBe(true);
    expect(isDryRun({}, ['node', 'x.js', '--no-write'])).toBe(true);
    expect(isDryRun({ BENCH_DRY: '0' }, [])).toBe(false);
  });

  it('replaces only its own section of the docs', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'honest-')), 'b.md');
    writeFileSync(
      file,
      '# B\n\n<!-- a:start -->\nold a\n<!-- a:end -->\n\n<!-- b:start -->\nold b\n<!-- b:end -->\n',
    );
    replaceSection(file, '<!-- a:start -->', '<!-- a:end -->', 'new a');
    expect(readFileSync(file, 'utf8')).toBe(
      '# B\n\n<!-- a:start -->\nnew a\n<!-- a:end -->\n\n<!-- b:start -->\nold b\n<!-- b:end -->\n',
    );
  });
});

describe('bench verdicts', () => {
  it('PASS only when the target holds as written', () => {
    expect(verdict({ measured: 60, op: '<=', threshold: 60, kind: 'MB' }).result).toBe('PASS');
    expect(verdict({ measured: 60.1, op: '<=', threshold: 60, kind: 'MB' }).result).toBe('FAIL');
    expect(verdict({ measured: 94, op: '>=', threshold: 95, kind: 'msg/s' }).result).toBe('FAIL');
    expect(verdict({ measured: null, op: '<=', threshold: 60, kind: 'MB' })).toEqual({
      result: 'not measured',
      why: 'no figure',
    });
    expect(verdict({ measured: 50, op: '<=', threshold: null, kind: 'MB' }).result).toBe('not measured');
  });

  it('a figure that does not measure passerelle is never PASS', () => {
    const v = verdict({
      measured: 10,
      op: '<=',
      threshold: 200,
      kind: 'MB',
      invalid: 'the simulator starved',
    });
    expect(v).toEqual({ result: 'not measured', why: 'the simulator starved' });
    expect(renderResult(v)).toBe('**not measured** (the simulator starved)');
  });

  it('a wall-time target is not judged by CPU time', () => {
    expect(() =>
      verdict({ measured: 20, op: '<=', threshold: 60, kind: 'wall s', measuredKind: 'cpu s' }),
    ).toThrow(/wall s cannot be judged by a figure in cpu s/);
  });

  it('a throughput PASS at the machine ceiling says so', () => {
    const at = throughputVerdict({
      measured: 9600,
      baseline: 10_000,
      factor: 0.95,
      measuredBusy: 1.98,
      baselineBusy: 1.95,
      cores: 2,
    });
    expect(at.result).toBe('PASS');
    expect(renderResult(at)).toMatch(
      /^PASS, at the machine's ceiling: both runs at the machine's ceiling \(1\.98 and 1\.95 of 2 cores/,
    );
    const below = throughputVerdict({
      measured: 9600,
      baseline: 10_000,
      factor: 0.95,
      measuredBusy: 1.2,
      baselineBusy: 1.95,
      cores: 2,
    });
    expect(below).toEqual({ result: 'PASS' });
    expect(renderResult(below)).toBe('PASS');
    expect(
      throughputVerdict({
        measured: 9400,
        baseline: 10_000,
        factor: 0.95,
        measuredBusy: 1,
        baselineBusy: 1,
        cores: 2,
      }).result,
    ).toBe('FAIL');
  });
});
