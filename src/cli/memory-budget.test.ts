import { describe, expect, it } from 'vitest';
import { DEFAULT_MEMORY_BUDGET, memoryBudgetOf } from './commands/run.js';

describe('passerelle run --memory-budget', () => {
  const base = { http: false as const };

  it('defaults to 16MiB, takes the variable, and the option over the variable', () => {
    expect(DEFAULT_MEMORY_BUDGET).toBe('16MiB');
    expect(memoryBudgetOf(base, {}).limit).toBe(16 * 1024 * 1024);
    expect(memoryBudgetOf(base, { PASSERELLE_MEMORY_BUDGET: '64MB' }).limit).toBe(64_000_000);
    expect(
      memoryBudgetOf({ ...base, memoryBudget: '2GiB' }, { PASSERELLE_MEMORY_BUDGET: '64MB' }).limit,
    ).toBe(2 * 1024 ** 3);
  });

  it('refuses what is not a size of at least 1MiB, naming where it came from', () => {
    expect(() => memoryBudgetOf({ ...base, memoryBudget: 'lots' }, {})).toThrow(
      '--memory-budget: expected a size of at least 1MiB such as 16MiB, 64MB or 1GiB, got "lots"',
    );
    expect(() => memoryBudgetOf(base, { PASSERELLE_MEMORY_BUDGET: '512kB' })).toThrow(
      /^PASSERELLE_MEMORY_BUDGET: expected a size of at least 1MiB/,
    );
    // A control character in the value is not echoed raw to the terminal.
    let message = '';
    try {
      memoryBudgetOf(base, { PASSERELLE_MEMORY_BUDGET: '1\u001b[2J' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^PASSERELLE_MEMORY_BUDGET: expected a size/);
    expect(message).not.toContain('\u001b');
  });
});
