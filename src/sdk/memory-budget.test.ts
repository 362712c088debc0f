import { describe, expect, it } from 'vitest';
import { Inbox } from './inbox.js';
import { MemoryBudget, parseByteSize } from './memory-budget.js';
import { MESSAGE_OVERHEAD_BYTES, messageSize, type Message } from './message.js';

const msg = (i: number, payload: unknown = { i }): Message => ({ id: `m${i}`, payload, meta: {}, time: i });

describe('memory budget', () => {
  it('counts, keeps its peak and wakes waiting inputs once below the limit', async () => {
    const budget = new MemoryBudget(100);
    budget.take(60);
    expect(budget.exhausted).toBe(false);
    budget.take(60);
    expect(budget.exhausted).toBe(true);
    let woke = false;
    const waiting = budget.whenAvailable().then(() => (woke = true));
    budget.give(10);
    await Promise.resolve();
    expect(woke).toBe(false);
    budget.give(50);
    await waiting;
    expect(budget).toMatchObject({ used: 60, peak: 120, waits: 1 });
  });

  it('parses sizes with units, and refuses what is not one', () => {
    expect(parseByteSize('16MiB')).toBe(16 * 1024 * 1024);
    expect(parseByteSize('64 MB')).toBe(64_000_000);
    expect(parseByteSize('1.5kib')).toBe(1536);
    expect(parseByteSize('1048576')).toBe(1048576);
    for (const bad of ['', 'MiB', '16 MiBs', '-1MiB', '1e9', '16 M'])
      expect(parseByteSize(bad)).toBeUndefined();
    expect(() => new MemoryBudget(0)).toThrow(/not a positive size/);
  });
});

describe('inbox with a memory budget', () => {
  it('is full while the shared budget is spent, by itself or by others, and counts bytes until acknowledged', async () => {
    const budget = new MemoryBudget(1000);
    const inbox = new Inbox({ capacity: 1000, maxBatch: 10, budget });
    inbox.push(msg(1), undefined, 600);
    expect(inbox.full).toBe(false);
    inbox.push(msg(2));
    const second = messageSize(msg(2));
    expect(budget.used).toBe(600 + second);
    // Someone else (another pipeline's outbox) spends the rest.
    budget.take(1000);
    expect(inbox.full).toBe(true);
    let space = false;
    const waiting = inbox.whenSpace().then(() => (space = true));
    const delivery = await inbox.read();
    delivery!.ack();
    expect(budget.used).toBe(1000);
    await Promise.resolve();
    expect(space).toBe(false);
    budget.give(1000);
    await waiting;
    expect(space).toBe(true);
    expect(budget.used).toBe(0);
    expect(budget.waits).toBeGreaterThan(0);
  });

  it('gives back the bytes of messages failed unread', () => {
    const budget = new MemoryBudget(10_000);
    const inbox = new Inbox({ capacity: 10, maxBatch: 10, budget });
    inbox.push(msg(1, 'abc'));
    expect(budget.used).toBe(3 + MESSAGE_OVERHEAD_BYTES);
    inbox.failUnread(new Error('lost'));
    expect(budget.used).toBe(0);
  });
});
