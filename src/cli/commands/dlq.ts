import type { Command } from 'commander';
import {
  createOutboxBackend,
  type DeadLetter,
  type DeadLetterFilter,
  type OutboxBackend,
} from '../../outbox/index.js';
import { printable, printableLines, redact } from '../../sdk/index.js';
import type { CliDeps } from '../deps.js';

interface FilterOptions {
  redis?: string;
  pipeline?: string;
  stage?: string;
  reason?: string;
  limit?: string;
  all?: boolean;
  json?: boolean;
  yes?: boolean;
}

async function withStore<T>(
  options: FilterOptions,
  deps: CliDeps,
  use: (backend: OutboxBackend) => Promise<T>,
): Promise<T> {
  const redisUrl = options.redis ?? deps.env.PASSERELLE_REDIS_URL;
  if (!redisUrl) {
    throw new Error(
      'dlq needs Redis (--redis URL or PASSERELLE_REDIS_URL): with the memory outbox, dead letters live inside the running service (see its /status page and logs).',
    );
  }
  const backend = await createOutboxBackend({
    redisUrl,
    // This process only reads and marks: it must never trim what the service keeps.
    retention: {
      maxAgeMs: Number.MAX_SAFE_INTEGER,
      maxCount: Number.MAX_SAFE_INTEGER,
      maxBytes: Number.MAX_SAFE_INTEGER,
    },
  });
  try {
    return await use(backend);
  } finally {
    await backend.close();
  }
}

function filterOf(options: FilterOptions): DeadLetterFilter {
  return {
    pipeline: options.pipeline,
    stage: options.stage,
    reason: options.reason,
    limit: options.limit ? Number(options.limit) : undefined,
  };
}

/** A full id, or a prefix that names exactly one dead letter (as git takes a short commit id). */
async function resolveId(id: string, backend: OutboxBackend): Promise<string> {
  if (await backend.deadLetters.get(id)) return id;
  const found = await backend.deadLetters.idsStartingWith(id, 6);
  if (found.length === 1) return found[0]!;
  if (found.length === 0) throw new Error(`no dead letter with id ${printable(id)}`);
  throw new Error(
    `${printable(id)} is the start of several dead letter ids (${found
      .slice(0, 5)
      .join(', ')}${found.length > 5 ? ', ...' : ''}): give more characters`,
  );
}

/** Either ids (or unique prefixes), or --all with the filters: never an implicit "everything". */
async function selectIds(ids: string[], options: FilterOptions, backend: OutboxBackend): Promise<string[]> {
  if (ids.length > 0) {
    const out: string[] = [];
    for (const id of ids) out.push(await resolveId(id, backend));
    return out;
  }
  if (!options.all)
    throw new Error(
      'give the ids of the dead letters, or --all (with --pipeline, --stage, --reason to narrow it)',
    );
  const entries = await backend.deadLetters.list({
    ...filterOf(options),
    limit: options.limit ? Number(options.limit) : Number.MAX_SAFE_INTEGER,
  });
  return entries.map((e) => e.id);
}

function withFilters(cmd: Command): Command {
  return cmd
    .option('--redis <url>', 'Redis URL (default: $PASSERELLE_REDIS_URL)')
    .option('--pipeline <name>', 'only this pipeline')
    .option('--stage <stage>', 'only this stage (source, transforms[N], or a sink name)')
    .option('--reason <text>', 'only reasons containing this text (case-insensitive)')
    .option('--limit <n>', 'at most this many');
}

/** Every field escaped: a reason quotes message data, and must not drive the terminal or add a line. */
function oneLine(e: DeadLetter): string {
  const reason = printable(redact(e.reason));
  return [
    e.id,
    new Date(e.time).toISOString(),
    e.pipeline,
    e.stage,
    reason.length > 120 ? reason.slice(0, 117) + '...' : reason,
  ]
    .map((field) => printable(field))
    .join('\t');
}

/**
 * JSON with the control characters of message data escaped (still valid JSON, same values). Line
 * feeds in JSON text are only the layout's: JSON.stringify escapes those inside strings.
 */
function jsonText(e: DeadLetter, indent?: number): string {
  return printableLines(JSON.stringify(jsonEntry(e), null, indent));
}

function jsonEntry(e: DeadLetter): unknown {
  const p = e.message.payload;
  const payload = p instanceof Uint8Array ? { bytesBase64: Buffer.from(p).toString('base64') } : p;
  return {
    ...e,
    reason: redact(e.reason),
    time: new Date(e.time).toISOString(),
    message: { ...e.message, payload },
  };
}

export function register(program: Command, deps: CliDeps): void {
  const dlq = program.command('dlq').description('inspect and re-drive dead letters (needs Redis)');

  withFilters(dlq.command('list').description('list dead letters, newest first'))
    .option('--json', 'one JSON object per line')
    .action(async (options: FilterOptions) => {
      await withStore(options, deps, async (backend) => {
        const entries = await backend.deadLetters.list({
          ...filterOf(options),
          limit: filterOf(options).limit ?? 100,
          newestFirst: true,
        });
        const total = await backend.deadLetters.count({ ...filterOf(options), limit: undefined });
        if (options.json) for (const e of entries) deps.stdout(`${jsonText(e)}\n`);
        else {
          deps.stdout('id\ttime\tpipeline\tstage\treason\n');
          for (const e of entries) deps.stdout(`${oneLine(e)}\n`);
          deps.stdout(`${entries.length} shown of ${total}\n`);
        }
      });
    });

  dlq
    .command('show')
    .description('show one dead letter with its message and error')
    .argument('<id>', 'dead letter id, or the start of one that names only it')
    .option('--redis <url>', 'Redis URL (default: $PASSERELLE_REDIS_URL)')
    .action(async (id: string, options: FilterOptions) => {
      await withStore(options, deps, async (backend) => {
        const entry = await backend.deadLetters.get(await resolveId(id, backend));
        if (!entry) throw new Error(`no dead letter with id ${printable(id)}`);
        deps.stdout(`${jsonText(entry, 2)}\n`);
      });
    });

  withFilters(
    dlq
      .command('replay')
      .description(
        're-drive dead letters through their pipeline (from the stage where they failed); the running service picks them up',
      ),
  )
    .argument('[ids...]', 'dead letter ids (or unique prefixes)')
    .option('--all', 'every dead letter matching the filters')
    .action(async (ids: string[], options: FilterOptions) => {
      await withStore(options, deps, async (backend) => {
        const selected = await selectIds(ids, options, backend);
        const { marked, refused } = await backend.deadLetters.requestReplay(selected);
        deps.stdout(
          `${marked} dead letter(s) marked for replay; the running service of each pipeline re-drives them within seconds\n`,
        );
        for (const r of refused) deps.stderr(`not replayed: ${r.id}: ${r.reason}\n`);
        if (marked < selected.length) deps.setExitCode(1);
      });
    });

  withFilters(dlq.command('purge').description('delete dead letters for good'))
    .argument('[ids...]', 'dead letter ids (or unique prefixes)')
    .option('--all', 'every dead letter matching the filters')
    .option('--yes', 'with --all: delete without asking')
    .action(async (ids: string[], options: FilterOptions) => {
      await withStore(options, deps, async (backend) => {
        const selected = await selectIds(ids, options, backend);
        if (ids.length === 0 && !options.yes && selected.length > 0) {
          const question = `delete ${selected.length} dead letter(s) for good?`;
          if (!(await deps.confirm(question))) {
            deps.stderr(`nothing deleted: ${question} (confirm on a terminal, or add --yes)\n`);
            deps.setExitCode(1);
            return;
          }
        }
        const n = await backend.deadLetters.remove(selected);
        deps.stdout(`${n} dead letter(s) deleted\n`);
        if (n < selected.length) deps.setExitCode(1);
      });
    });
}
