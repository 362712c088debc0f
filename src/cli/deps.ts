import type { Registry } from '../registry/types.js';

/** What commands get instead of globals, so tests can call `main()` with a fake registry and capture output. */
export interface CliDeps {
  registry: Registry;
  /** Writes to standard output (text as given, no newline added). */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  /** Sets the process exit code; the highest code set wins. */
  setExitCode(code: number): void;
}
