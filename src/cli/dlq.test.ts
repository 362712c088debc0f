import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type ServiceHandle } from '../../test/harness/services.js';
import { createOutboxBackend, MemoryDeadLetters } from '../outbox/index.js';
import { createMessage } from '../sdk/index.js';
import { main } from './main.js';

/** `dlq`: newest first as documented, ids by unique prefix, `purge --all` only when confirmed. */

async function run(argv: string[], answer = false) {
  let stdout = '';
  let stderr = '';
  const questions: string[] = [];
  const code = await main(argv, {
    env: {},
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
    confirm: async (q) => {
      questions.push(q);
      return answer;
    },
  });
  return { code, stdout, stderr, questions };
}

const entry = (pipeline: string, reason: string, time: number) => ({
  pipeline,
  stage: 'source',
  reason,
  message: createMessage({ id: reason, payload: { reason } }),
  time,
  attempts: 1,
});

describe('passerelle dlq', () => {
  let redis: ServiceHandle;
  const listIds = async () =>
    (await run(['dlq', 'list', '--json', '--redis', redis.url])).stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { id: string; reason: string });

  beforeAll(async () => {
    redis = await startRedis();
    const backend = await createOutboxBackend({
      redisUrl: redis.url,
      retention: { maxAgeMs: 3_600_000, maxCount: 1000 },
    });
    const t = Date.now() - 60_000;
    try {
      // Two pipelines, times interleaved: the order must hold across them.
      await backend.deadLetters.add([entry('a', 'first', t), entry('b', 'second', t + 1000)]);
      await backend.deadLetters.add([entry('a', 'third', t + 2000)]);
    } finally {
      await backend.close();
    }
  }, 30_000);
  afterAll(() => redis?.dispose());

  it('list shows the newest first, in text and JSON', async () => {
    expect((await listIds()).map((e) => e.reason)).toEqual(['third', 'second', 'first']);
    const text = await run(['dlq', 'list', '--redis', redis.url, '--pipeline', 'a']);
    const lines = text.stdout.trim().split('\n');
    expect(lines[1]).toContain('third');
    expect(lines[2]).toContain('first');
  });

  it('show, replay and purge take a unique prefix of an id; an ambiguous or unknown one is an error', async () => {
    const entries = await listIds();
    const third = entries.find((e) => e.reason === 'third')!;
    const shown = await run(['dlq', 'show', third.id.slice(0, 8), '--redis', redis.url]);
    expect(shown.code, shown.stderr).toBe(0);
    expect((JSON.parse(shown.stdout) as { id: string }).id).toBe(third.id);

    const none = await run(['dlq', 'show', 'zzzz', '--redis', redis.url]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no dead letter with id zzzz');

    // The empty prefix starts every id: ambiguous, never "the first one".
    const ambiguous = await run(['dlq', 'purge', '', '--redis', redis.url]);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toContain('is the start of several dead letter ids');
    expect(await listIds()).toHaveLength(3);
  });

  it('purge --all asks first, deletes nothing without a yes, and --yes skips the question', async () => {
    const refused = await run(['dlq', 'purge', '--all', '--pipeline', 'b', '--redis', redis.url], false);
    expect(refused.questions).toEqual(['delete 1 dead letter(s) for good?']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('add --yes');
    expect(await listIds()).toHaveLength(3);

    const confirmed = await run(['dlq', 'purge', '--all', '--pipeline', 'b', '--redis', redis.url], true);
    expect(confirmed.code).toBe(0);
    expect(confirmed.stdout).toContain('1 dead letter(s) deleted');

    const yes = await run(['dlq', 'purge', '--all', '--yes', '--pipeline', 'a', '--redis', redis.url]);
    expect(yes.questions).toEqual([]);
    expect(yes.stdout).toContain('2 dead letter(s) deleted');
    expect(await listIds()).toEqual([]);
  });

  it('purge by id needs no confirmation (the ids are the confirmation)', async () => {
    const backend = await createOutboxBackend({
      redisUrl: redis.url,
      retention: { maxAgeMs: 3_600_000, maxCount: 1000 },
    });
    try {
      await backend.deadLetters.add([entry('c', 'lone', Date.now())]);
    } finally {
      await backend.close();
    }
    const [lone] = await listIds();
    const result = await run(['dlq', 'purge', lone!.id.slice(0, 6), '--redis', redis.url]);
    expect(result.questions).toEqual([]);
    expect(result.stdout).toContain('1 dead letter(s) deleted');
  });
});

describe('memory dead letters', () => {
  it('list newest first and find ids by prefix', async () => {
    const store = new MemoryDeadLetters({ maxAgeMs: 3_600_000, maxCount: 100 });
    await store.add([entry('p', 'old', Date.now() - 2000), entry('p', 'new', Date.now() - 1000)]);
    expect((await store.list({ newestFirst: true })).map((e) => e.reason)).toEqual(['new', 'old']);
    expect((await store.list()).map((e) => e.reason)).toEqual(['old', 'new']);
    const [first] = await store.list();
    expect(await store.idsStartingWith(first!.id.slice(0, 10), 5)).toEqual([first!.id]);
  });
});
