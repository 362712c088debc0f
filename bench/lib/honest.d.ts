// Types of the pure decisions in honest.js, for test/bench/honest.test.ts.
export const FOREIGN_LIMIT: number;
export const SATURATED_SHARE: number;
export function isDryRun(env?: Record<string, string | undefined>, argv?: string[]): boolean;
export interface Reading {
  machine: number;
  tree: number;
  at: number;
}
export function foreignCores(a: Reading, b: Reading): number;
export interface QuietVerdict {
  quiet: boolean;
  reasons: string[];
}
export function quietVerdict(windows: { label: string; cores: number }[], limit?: number): QuietVerdict;
export function writeDecision(input: {
  dry: boolean;
  quiet: QuietVerdict;
  commit: string;
  partial?: boolean;
  forceWrite?: boolean;
}): { write: boolean; reason: string };
export interface Verdict {
  result: 'PASS' | 'FAIL' | 'not measured';
  why?: string;
  ceiling?: string;
}
export function verdict(input: {
  measured: number | null | undefined;
  op: '<=' | '>=';
  threshold: number | null | undefined;
  kind: string;
  measuredKind?: string;
  invalid?: string;
}): Verdict;
export function saturated(busyCores: number, cores: number): boolean;
export function throughputVerdict(input: {
  measured: number | null;
  baseline: number | null;
  factor: number;
  measuredBusy: number | undefined;
  baselineBusy: number | undefined;
  cores: number;
}): Verdict;
export function renderResult(v: Verdict): string;
export function replaceSection(file: string, start: string, end: string, section: string): void;
export function sectionHeading(title: string, date?: Date): string;
export function measuredCommit(): string;
