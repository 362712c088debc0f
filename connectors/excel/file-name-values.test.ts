import { describe, expect, it } from 'vitest';
import { createMessage } from '../../src/sdk/index.js';
import { compileFileName } from './period.js';

/**
 * A value from the message in the file name template can not leave the sink's folder: no folder
 * separators, no `.` or `..` name, no hidden file. (The same class as topic levels in the MQTT sink.)
 */
describe('excel file name template with hostile values', () => {
  const name = compileFileName('{{ payload.site }}-{{ date:YYYY-MM }}', 'p', 'UTC');
  const period = { start: Date.UTC(2026, 0, 1), end: Date.UTC(2026, 1, 1) };
  const render = (site: unknown): string => name(createMessage({ id: 'm', payload: { site } }), period);

  it.each([
    '../../etc/cron.d/job',
    '..',
    '/etc/passwd',
    '..\\..\\windows',
    'a/../../b',
    '.hidden',
    'x\u0000y',
  ])('keeps %j inside the folder', (site) => {
    const file = render(site);
    expect(file).not.toMatch(/[/\\]/);
    expect(file).not.toContain('\u0000');
    expect(file.startsWith('.')).toBe(false);
    expect(file.endsWith('.xlsx')).toBe(true);
  });

  it('a whole name from the message can not be . or ..', () => {
    const whole = compileFileName('{{ payload.name }}', 'p', 'UTC');
    for (const value of ['.', '..', '../..'])
      expect(whole(createMessage({ id: 'm', payload: { name: value } }), period)).toMatch(/^_/);
  });
});
