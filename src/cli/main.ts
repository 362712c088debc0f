import type { Command } from 'commander';
import { printableLines, redact, transientRequire } from '../sdk/index.js';
import { lazyBuiltinRegistry } from '../registry/lazy.js';
import type { CliDeps } from './deps.js';
import { packageVersion } from './version.js';

export type { CliDeps } from './deps.js';
export { packageVersion } from './version.js';

interface CommandModule {
  register(program: Command, deps: CliDeps): void;
}

/*
 * commander, required (its CommonJS build: V8 keeps every ES module it linked, and commander's ES
 * entry would hold the package) and dropped from the require cache 2 s after the last parse, so that
 * `passerelle run`, which lives far longer than its command line, does not keep the parser's code
 * and sources (~0.6 MB of heap; docs/architecture.md, "Specs, implementations and idle memory").
 * The service itself runs after the parse (CliDeps.afterParsing), not inside commander's action.
 */
const commanderPackage = transientRequire(
  (require) => require('commander') as typeof import('commander'),
  2000,
);

/**
 * Each command lives in `commands/<name>.ts` and registers itself; add new ones to this list. A
 * command is imported only when it is the one asked for (all of them for help or an unknown
 * command): `passerelle run` must not keep the simulators, the demo, the dead-letter tools or the
 * schema generator in memory (docs/architecture.md, "Specs, implementations and idle memory").
 */
export const commands: Record<string, () => Promise<CommandModule>> = {
  run: () => import('./commands/run.js'),
  demo: () => import('./commands/demo.js'),
  validate: () => import('./commands/validate.js'),
  test: () => import('./commands/test.js'),
  create: () => import('./commands/create.js'),
  schema: () => import('./commands/schema.js'),
  connectors: () => import('./commands/connectors.js'),
  dlq: () => import('./commands/dlq.js'),
  simulate: () => import('./commands/simulate.js'),
};

/** The program with the command `argv` names, or with every command when it names none of them. */
export async function createProgram(deps: CliDeps, argv: readonly string[] = []): Promise<Command> {
  const program = new (commanderPackage.get().Command)('passerelle')
    .description(
      'Bridge and data-export service for industrial and building IoT: declarative YAML pipelines.',
    )
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => deps.stdout(s), writeErr: (s) => deps.stderr(s) });
  const named = argv[0] !== undefined && Object.hasOwn(commands, argv[0]) ? [argv[0]] : Object.keys(commands);
  for (const name of named) (await commands[name]!()).register(program, deps);
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
    // `run` imports the specs its configuration names; the other commands list or document them all.
    registry:
      overrides.registry ??
      (argv[0] === 'run' ? lazyBuiltinRegistry() : (await import('../registry/index.js')).builtinRegistry),
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
  let after: (() => Promise<void>) | undefined;
  deps.afterParsing = (work) => {
    after = work;
  };
  const fail = (error: unknown): number => {
    deps.stderr(`passerelle: ${redact(error instanceof Error ? error.message : String(error))}\n`);
    return 1;
  };
  const { CommanderError } = commanderPackage.get();
  try {
    // The program, its commands and their actions are unreachable once parsed.
    await (await createProgram(deps, argv)).parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    return fail(error);
  }
  if (after) {
    try {
      await after();
    } catch (error) {
      return fail(error);
    }
  }
  return exitCode;
}
