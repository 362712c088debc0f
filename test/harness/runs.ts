import { createMessage, RUN_META_KEY, type Message, type Run } from '../../src/sdk/index.js';

/** Fixtures of the `rotate: run` tests of the file and spreadsheet sinks. */

const DAY = 86_400_000;

/** A daily run over `day` December 2026 in Paris (23:00 UTC the day before to 23:00 UTC). */
export function dailyRun(day = 4, attempt = 1): Run {
  const start = Date.UTC(2026, 11, day - 1, 23);
  return {
    id: `daily@${new Date(start + DAY).toISOString()}`,
    pipeline: 'daily',
    window: { start, end: start + DAY },
    scheduledAt: start + DAY,
    attempt,
    timeZone: 'Europe/Paris',
  };
}

/** Texts a sink must write as they are: formulas, padding, line breaks, markup, quotes. */
export const HOSTILE_TEXTS = [
  '=1+1',
  '+SUM(A1:A2)',
  '@cmd',
  '  spaces  ',
  'line\nbreak',
  'Ünïcödé 日本語 🎉',
  '<xml attr="x">&amp;</xml>',
  'it\'s "quoted"',
];

/** Messages `from`..`from + count - 1` of a run, one a minute: `{ n, text }` with a hostile text and `tag`. */
export function runMessages(run: Run, from: number, count: number, tag = ''): Message[] {
  return Array.from({ length: count }, (_, k) => {
    const i = from + k;
    return createMessage({
      id: `${run.id}#${i}`,
      time: run.window.start + i * 60_000,
      meta: { [RUN_META_KEY]: { id: run.id, window: run.window } },
      payload: { n: i, text: `${HOSTILE_TEXTS[i % HOSTILE_TEXTS.length]}${tag}` },
    });
  });
}
