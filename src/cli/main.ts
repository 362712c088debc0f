import { Command, CommanderError } from 'commander';
import { printableLines, redact } from '../sdk/index.js';
import { builtinRegistry } from '../registry/index.js';
import type { CliDeps } from './deps.js';
import { packageVersion } from './version.js';
import * as runCommand from './commands/run.js';
import * as demoCommand from './commands/demo.js';
import * as dlqCommand from './commands/dlq.js';
import * as simulateCommand from './commands/simulate.js';
import * as connectorsCommand from './commands/connectors.js';
import * as schemaCommand from './commands/schema.js';
import * as validateCommand from './commands/validate.js';
import * as testCommand from './commands/test.js';
import * as createCommand from './commands/create.js';

export type { CliDeps } from './deps.js';
export { packageVersion } from './version.js';

/** Each command lives in `commands/<name>.ts` and registers itself here; add new ones to this list. */
export const commands: { register(program: Command, deps: CliDeps): void }[] = [
  runCommand,
  demoCommand,
  validateCommand,
  testCommand,
  createCommand,
  schemaCommand,
  connectorsCommand,
  dlqCommand,
  simulateCommand,
];

export function createProgram(deps: CliDeps): Command {
  const program = new Command('passerelle')
    .description(
      'Bridge and data-export service for industrial and building IoT: declarative YAML pipelines.',
    )
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => deps.stdout(s), writeErr: (s) => deps.stderr(s) });
  for (const command of commands) command.register(program, deps);
  // Subcommands inherit exitOverride and output only when set on each.
  for (const sub of program.commands)
    sub.exitOverride().configureOutput({ writeOut: (s) => deps.stdout(s), writeErr: (s) => deps.stderr(s) });
  return program;
}

async function askOnTerminal(question: string): Promise<boolean> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return false;
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/** Runs the CLI; resolves with the exit code. `overrides` are for tests (registry, output capture). */
export async function main(argv: string[], overrides: Partial<CliDeps> = {}): Promise<number> {
  let exitCode = 0;
  const stdout = overrides.stdout ?? ((s: string) => void process.stdout.write(s));
  const stderr = overrides.stderr ?? ((s: string) => void process.stderr.write(s));
  const deps: CliDeps = {
    registry: builtinRegistry,
    env: process.env,
    confirm: askOnTerminal,
    ...overrides,
    // The last guard: whatever a command prints, no control character but its own line feeds and
    // tabs reaches the terminal (commands escape message data field by field with printable()).
    stdout: (s) => stdout(printableLines(s)),
    stderr: (s) => stderr(printableLines(s)),
    setExitCode: (code) => {
      exitCode = Math.max(exitCode, code);
    },
  };
  const program = createProgram(deps);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    deps.stderr(`passerelle: ${redact(error instanceof Error ? error.message : String(error))}\n`);
    return 1;
  }
  return exitCode;
}
