import type { Registry } from '../registry/types.js';

/** What commands get instead of globals, so tests can call `main()` with a fake registry and capture output. */
export interface CliDeps {
  registry: Registry;
  /** Writes to standard output (text as given, no newline added). */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  /**
   * Asks a yes/no question on the terminal; resolves false when there is no terminal to ask (the
   * command then says which flag confirms). Tests pass their own.
   */
  confirm(question: string): Promise<boolean>;
  /** Sets the process exit code; the highest code set wins. */
  setExitCode(code: number): void;
  /**
   * Runs `work` once the command line is parsed, outside the parser's action, so that a command
   * that runs until it is stopped (`run`) does not keep the parser in memory: errors it throws are
   * reported as an action's. Without it (a program made by createProgram() alone), the action runs
   * `work` itself.
   */
  afterParsing?(work: () => Promise<void>): void;
}
