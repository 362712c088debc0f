import { describe, expect, it } from 'vitest';
import { EventEmitter } from 'node:events';
import { Inbox } from '../../src/sdk/index.js';
import { createFakeContext } from '../../test/conformance/context.js';
import { OpcuaSource, publishTimesOf } from './source.js';
import { opcuaSourceConfig } from './spec.js';

/** What the source does with one value, without a server: the paths a live server rarely takes. */
type Receiver = { safeReceive(st: unknown, dv: unknown, inbox: Inbox): void };

const nodeState = () => ({
  node: { nodeId: undefined, nodeIdText: 'ns=2;s=X', name: 'X', settings: {} },
  lastTime: 0,
  repeat: 0,
});
const dataValue = (value: unknown, code = 0) => ({
  value,
  statusCode: { value: code, name: code === 0 ? 'Good' : 'BadSensorFailure' },
  sourceTimestamp: new Date(1_764_072_010_500),
  serverTimestamp: new Date(1_764_072_010_501),
});

function source(overrides: Record<string, unknown> = {}) {
  const ctx = createFakeContext();
  const s = new OpcuaSource(
    opcuaSourceConfig.parse({ url: 'opc.tcp://x:4840', nodes: ['i=1'], ...overrides }),
    ctx,
  );
  return { ctx, receiver: s as unknown as Receiver };
}

describe('opcua source, one value at a time', () => {
  it('dead-letters a value it can not convert, and goes on with the next', async () => {
    const { ctx, receiver } = source();
    const node = nodeState();
    const inbox = new Inbox({ capacity: 10, maxBatch: 10 });
    const broken = {
      get dataType(): number {
        throw new Error('unknown structure');
      },
      value: 1,
    };
    receiver.safeReceive(node, dataValue(broken), inbox);
    receiver.safeReceive(node, dataValue({ dataType: 11, arrayType: 0, value: 2.5 }), inbox);
    await new Promise((r) => setTimeout(r, 10));
    expect(ctx.deadLetters).toHaveLength(1);
    expect(ctx.deadLetters[0]!.reason).toMatch(/cannot convert the value of ns=2;s=X: unknown structure/);
    const d = await inbox.read(AbortSignal.timeout(1000));
    expect(d?.messages.map((m) => (m.payload as { value: unknown }).value)).toEqual([2.5]);
  });

  it('drops and counts when the pipeline is behind (maxQueuedValues), and bad values when asked to', () => {
    const { ctx, receiver } = source({ badQuality: 'drop' });
    const node = nodeState();
    const inbox = new Inbox({ capacity: 1, maxBatch: 10 });
    receiver.safeReceive(node, dataValue({ dataType: 11, arrayType: 0, value: 1 }), inbox);
    receiver.safeReceive(node, dataValue({ dataType: 11, arrayType: 0, value: 2 }), inbox);
    receiver.safeReceive(node, dataValue({ dataType: 11, arrayType: 0, value: 3 }, 0x808f0000), inbox);
    expect(ctx.dropped).toEqual([
      { count: 1, reason: 'inbox full (the pipeline is behind)' },
      { count: 1, reason: 'bad quality' },
    ]);
  });

  it('gives two changes of a node in the same millisecond distinct ids', async () => {
    const { receiver } = source();
    const node = nodeState();
    const inbox = new Inbox({ capacity: 10, maxBatch: 10 });
    receiver.safeReceive(node, dataValue({ dataType: 11, arrayType: 0, value: 1 }), inbox);
    receiver.safeReceive(node, dataValue({ dataType: 11, arrayType: 0, value: 2 }), inbox);
    const d = await inbox.read(AbortSignal.timeout(1000));
    expect(d?.messages.map((m) => m.id)).toEqual(['ns=2;s=X@1764072010500', 'ns=2;s=X@1764072010500#1']);
  });

  it('writes payload and meta fields in their documented order, each message its own meta', async () => {
    const { receiver } = source();
    const node = nodeState();
    Object.assign(node.node, { browsePath: 'Plant/X', displayName: 'X' });
    const inbox = new Inbox({ capacity: 10, maxBatch: 10 });
    receiver.safeReceive(node, dataValue({ dataType: 11, arrayType: 0, value: 1 }), inbox);
    receiver.safeReceive(node, dataValue({ dataType: 11, arrayType: 0, value: 2 }, 0x808f0000), inbox);
    const [first, second] = (await inbox.read(AbortSignal.timeout(1000)))!.messages;
    expect(JSON.stringify(first!.payload)).toBe(
      '{"node":"X","value":1,"dataType":"Double","quality":"good","status":"Good","sourceTimestamp":"2025-11-25T12:00:10.500Z","serverTimestamp":"2025-11-25T12:00:10.501Z"}',
    );
    expect(Object.entries(first!.meta)).toEqual([
      ['opcua.nodeId', 'ns=2;s=X'],
      ['opcua.name', 'X'],
      ['opcua.statusCode', 0],
      ['opcua.quality', 'good'],
      ['opcua.dataType', 'Double'],
      ['opcua.browsePath', 'Plant/X'],
      ['opcua.displayName', 'X'],
    ]);
    // Built from a per-node template: a message's meta is never shared with another's.
    expect(second!.meta).not.toBe(first!.meta);
    expect(second!.meta['opcua.quality']).toBe('bad');
    expect(first!.meta['opcua.quality']).toBe('good');
  });
});

describe('opcua source, subscribing', () => {
  /** A session whose subscription records each CreateMonitoredItems call (the NodeIds asked for). */
  function fakeSession() {
    const calls: { nodes: string[]; queueSize: number }[] = [];
    const on = () => undefined;
    const subscription = {
      on,
      monitorItems: (items: { nodeId: string }[], params: { queueSize: number }) => {
        calls.push({ nodes: items.map((i) => i.nodeId), queueSize: params.queueSize });
        return Promise.resolve({ on, monitoredItems: items.map(() => ({ statusCode: undefined })) });
      },
    };
    const lib = {
      AttributeIds: { Value: 13 },
      TimestampsToReturn: { Both: 2 },
      DataChangeTrigger: {},
      DeadbandType: {},
    };
    const session = { createSubscription2: () => Promise.resolve(subscription) };
    return { calls, s: { lib, session, generation: 1, namespaces: [] } };
  }
  const state = (i: number, queueSize?: number) => ({
    node: {
      nodeId: `ns=2;s=N${i}`,
      nodeIdText: `ns=2;s=N${i}`,
      name: `N${i}`,
      settings: queueSize === undefined ? {} : { queueSize },
    },
    lastTime: 0,
    repeat: 0,
  });

  it('monitors the nodes of the same settings together, 1,000 per call, in the configured order', async () => {
    const { ctx } = source();
    const src = new OpcuaSource(opcuaSourceConfig.parse({ url: 'opc.tcp://x:4840', nodes: ['i=1'] }), ctx);
    // 2,500 nodes with the defaults, every 100th with a queue of 50 of its own.
    const states = Array.from({ length: 2_500 }, (_, i) => state(i, i % 100 === 0 ? 50 : undefined));
    const { calls, s } = fakeSession();
    const subscribe = (src as unknown as { subscribe: (...a: unknown[]) => Promise<{ problems: string[] }> })
      .subscribe;
    const result = await subscribe.call(src, s, states, new Inbox({ capacity: 10, maxBatch: 10 }), {});
    expect(result.problems).toEqual([]);
    const defaults = states.filter((_, i) => i % 100 !== 0).map((st) => st.node.nodeId);
    const own = states.filter((_, i) => i % 100 === 0).map((st) => st.node.nodeId);
    // Groups in the order of their first node (N0 has a queue of its own).
    expect(calls.map((c) => [c.nodes.length, c.queueSize])).toEqual([
      [25, 50],
      [1_000, 10],
      [1_000, 10],
      [475, 10],
    ]);
    expect(calls[0]!.nodes).toEqual(own);
    expect(calls.slice(1).flatMap((c) => c.nodes)).toEqual(defaults);
  });
});

describe('publishTimesOf', () => {
  // The notification message comes before its values; each value maps to its message's publishTime.
  const notify = (subscription: EventEmitter, publishTime: Date, values: object[]) =>
    subscription.emit('raw_notification', {
      publishTime,
      notificationData: [{ monitoredItems: values.map((value) => ({ value })) }],
    });

  it("maps each value to its notification's publishTime, as ISO 8601", () => {
    const subscription = new EventEmitter();
    const times = publishTimesOf(subscription as unknown as Parameters<typeof publishTimesOf>[0]);
    const a = dataValue(1);
    const b = dataValue(2);
    notify(subscription, new Date(Date.UTC(2026, 11, 6, 4, 0, 0, 120)), [a, b]);
    expect(times.get(a as never)).toBe('2026-12-06T04:00:00.120Z');
    expect(times.get(b as never)).toBe('2026-12-06T04:00:00.120Z');
  });

  it('gives no publishTime for a server that sends the null DateTime (1601-01-01)', () => {
    const subscription = new EventEmitter();
    const times = publishTimesOf(subscription as unknown as Parameters<typeof publishTimesOf>[0]);
    const a = dataValue(1);
    notify(subscription, new Date(Date.UTC(1601, 0, 1)), [a]);
    expect(times.get(a as never)).toBeUndefined();
  });
});
