import { describe, expect, it } from 'vitest';
import { createMessage } from '../sdk/index.js';
import { BLOCK_LIMIT_MS, measureBlocking } from '../../test/harness/event-loop.js';
import { createTestTransformContext } from '../../test/conformance/transform.js';
import { FilterTransform, filterTransformConfig } from './filter/index.js';
import { MAX_ITEMS, MAX_PAD, MAX_RANGE, MAX_SORT, compileJsonata } from './jsonata.js';
import { MapTransform, mapTransformConfig } from './map/index.js';

const message = (payload: unknown) => createMessage({ id: 'm', payload, meta: {}, time: 0 });

/** Evaluates like the filter transform does; the work must never hold the event loop past the limit. */
async function evaluate(expression: string, payload: unknown = {}, timeoutMs = 1000) {
  const run = compileJsonata(expression, timeoutMs);
  const measured = await measureBlocking(() => run(message(payload)));
  expect(measured.blockedMs, expression).toBeLessThan(BLOCK_LIMIT_MS);
  return measured;
}

const errorText = (error: unknown) =>
  error instanceof Error ? error.message : String((error as { message?: unknown })?.message ?? error);

describe('JSONata bounds', () => {
  it('matches regular expressions in linear time (RE2): /^(a+)+$/ backtracked for seconds', async () => {
    const s = `${'a'.repeat(5000)}!`;
    expect((await evaluate('$match(payload.s, /^(a+)+$/)', { s })).value).toBeUndefined();
    expect((await evaluate('$contains(payload.s, /^(\\d+)*$/)', { s: `${'1'.repeat(5000)}x` })).value).toBe(
      false,
    );
    expect((await evaluate('$replace(payload.s, /a(b)?/i, "[$1]")', { s: 'xAbyaz' })).value).toBe('x[b]y[]z');
    expect(
      Array.from((await evaluate('$match(payload.s, /\\d+/).index', { s: 'é1 22' })).value as number[]),
    ).toEqual([1, 3]);
  });

  it('refuses ranges over the limit before building them', async () => {
    const { error } = await evaluate('$sum([1..9999999])');
    expect(errorText(error)).toMatch(
      /range \[1\.\.9999999\] has 9999999 items, more than the limit of 100000/,
    );
    expect((await evaluate(`$count([1..${MAX_RANGE}])`)).value).toBe(MAX_RANGE);
    // Ranges inside ranges, and in recursion, are checked each with its own bounds.
    expect((await evaluate('$count([1..($count([1..10]) * 5)])')).value).toBe(50);
  });

  it('stops arrays and strings that double at each step', async () => {
    const { error } = await evaluate(
      '$reduce([1..30], function($acc, $i) { $append($acc, $acc) }, [1])',
      {},
      10_000,
    );
    expect(errorText(error)).toMatch(new RegExp(`more than the limit of ${MAX_ITEMS}`));
    const strings = await evaluate('$reduce([1..40], function($acc, $i) { $acc & $acc }, "ab")', {}, 10_000);
    expect(errorText(strings.error)).toMatch(/a string of \d+ characters, more than the limit/);
  });

  it('sorts and removes duplicates in n log n, with JSONata results', async () => {
    const numbers = Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 50_000);
    const sorted = await evaluate('$sort(payload)', numbers);
    expect(sorted.value).toEqual([...numbers].sort((a, b) => a - b));
    const strings = Array.from({ length: 20_000 }, (_, i) => `k${i % 10_000}`);
    const distinct = await evaluate('$distinct(payload)', strings);
    expect(distinct.value).toEqual(strings.slice(0, 10_000));
    // Deep equality, whatever the key order, as JSONata's.
    const objects = await evaluate('$distinct(payload)', [
      { a: 1, b: [1] },
      { b: [1], a: 1 },
      { a: 1, b: [2] },
      1,
      '1',
    ]);
    expect(objects.value).toEqual([{ a: 1, b: [1] }, { a: 1, b: [2] }, 1, '1']);
    expect(errorText((await evaluate('$sort(payload)', [1, 'a'])).error)).toMatch(
      /array of strings or an array of numbers/,
    );
    // With a comparator, JSONata's own $sort, whose comparisons are steps the deadline can stop.
    expect((await evaluate('$sort(payload, function($l, $r) { $l < $r })', [1, 3, 2])).value).toEqual([
      3, 2, 1,
    ]);
  });

  it('bounds sorts that use JSONata’s recursive merge sort: order-by and $sort with a function', async () => {
    // 20,000 items held the event loop for 245 ms in one piece before the bound.
    const big = { list: Array.from({ length: 20_000 }, (_, i) => (i * 7919) % 20_000) };
    expect(errorText((await evaluate('payload.list^($)', big, 10_000)).error)).toMatch(
      new RegExp(`sorts more than about ${MAX_SORT} items`),
    );
    expect(
      errorText((await evaluate('$sort(payload.list, function($a, $b) { $a > $b })', big, 10_000)).error),
    ).toMatch(new RegExp(`20000 items, more than the limit of ${MAX_SORT}`));
    const small = { list: [3, 1, 2] };
    expect((await evaluate('payload.list^(>$)', small)).value).toEqual([3, 2, 1]);
    expect((await evaluate('$sort(payload.list, function($a, $b) { $a < $b })', small)).value).toEqual([
      3, 2, 1,
    ]);
    const many = { list: Array.from({ length: MAX_SORT }, (_, i) => MAX_SORT - i) };
    const sorted = (await evaluate('payload.list^($)', many, 10_000)).value as number[];
    expect(sorted[0]).toBe(1);
    expect(sorted).toHaveLength(MAX_SORT);
  });

  it('caps $pad and has no $eval', async () => {
    expect(errorText((await evaluate('$pad("x", 10000000)')).error)).toMatch(
      new RegExp(`width 10000000 exceeds the limit of ${MAX_PAD}`),
    );
    expect((await evaluate('$pad("x", -3, "#")')).value).toBe('##x');
    expect(errorText((await evaluate('$eval(payload.code)', { code: '[1..9999999]' })).error)).toMatch(
      /\$eval is not available/,
    );
  });

  it('lets the event loop run during a long evaluation, and stops it at the deadline', async () => {
    // Turns of the event loop while the evaluation runs, counted (a duration bound only says the
    // machine was fast enough): without the step hook's yields, none happens until it ends.
    let turns = 0;
    let running = true;
    const turn = (): void => {
      turns++;
      if (running) setImmediate(turn);
    };
    setImmediate(turn);
    const { error, value } = await evaluate(
      '$reduce([1..100000], function($a, $b) { $a + $length($string($b)) }, 0)',
      {},
      300,
    ).finally(() => (running = false));
    expect(errorText(error)).toMatch(/timeout after 300 milliseconds/i);
    expect(value).toBeUndefined();
    expect(turns).toBeGreaterThan(1);
  });
});

describe('map and filter with hostile expressions', () => {
  it('dead-letter the message that exceeds a bound, and go on with the batch', async () => {
    const map = new MapTransform(mapTransformConfig.parse({ expression: '{ "n": $count([1..payload.n]) }' }));
    const ctx = createTestTransformContext();
    const out = await map.apply([message({ n: 9_999_999 }), message({ n: 3 })], ctx);
    expect(out.map((m) => m.payload)).toEqual([{ n: 3 }]);
    expect(ctx.rejected[0]?.reason).toMatch(
      /map: the payload expression .* failed: the range \[1\.\.9999999\]/,
    );

    const filter = new FilterTransform(
      filterTransformConfig.parse({ expression: '$contains(payload.serial, /^(a+)+$/)' }),
    );
    const measured = await measureBlocking(() =>
      filter.apply([message({ serial: `${'a'.repeat(28)}!` }), message({ serial: 'aaa' })], ctx),
    );
    expect(measured.blockedMs).toBeLessThan(BLOCK_LIMIT_MS);
    expect(measured.value?.map((m) => m.payload)).toEqual([{ serial: 'aaa' }]);
  });

  it('refuse, when the config is validated, regular expressions RE2 cannot run in linear time', () => {
    for (const [expression, construct] of [
      ['$match(payload.s, /(a)\\1/)', 'backreferences'],
      ['$match(payload.s, /a(?=b)/)', 'lookahead'],
      ['$contains(payload.s, /(?<!x)a/)', 'lookbehind'],
    ]) {
      const r = filterTransformConfig.safeParse({ expression });
      expect(r.success, expression).toBe(false);
      expect(r.error?.issues[0]?.message).toMatch(/is not supported: expressions use RE2/);
      expect(r.error?.issues[0]?.message).toContain(construct);
    }
    const meta = mapTransformConfig.safeParse({ expression: 'payload', meta: { x: '$match($id, /(?=a)/)' } });
    expect(meta.error?.issues[0]?.path).toEqual(['meta', 'x']);
    expect(
      filterTransformConfig.safeParse({ expression: '$contains(payload.s, /^[a-z]+\\d{2,}$/i)' }).success,
    ).toBe(true);
  });
});
