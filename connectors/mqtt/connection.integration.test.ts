import { getEventListeners } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { NotConnectedError, RetryableError } from '../../src/sdk/index.js';
import { createFakeContext } from '../../test/conformance/context.js';
import { startMosquitto, type ServiceHandle } from '../../test/harness/services.js';
import { MqttConnection } from './connection.js';
import { mqttSinkConfig } from './spec.js';

let broker: ServiceHandle;
const open: MqttConnection[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
});
afterEach(async () => {
  vi.useRealTimers();
  for (const conn of open.splice(0)) await conn.end(true);
});
afterAll(async () => {
  await broker?.dispose();
});

async function connection(): Promise<MqttConnection> {
  const config = mqttSinkConfig.parse({ url: broker.url, topic: 't', reconnectDelay: '10s' });
  const conn = new MqttConnection(config, createFakeContext(), { clean: true });
  open.push(conn);
  await conn.open(AbortSignal.timeout(10_000));
  return conn;
}

/** The listeners untilAnswered may leave behind: none, once it has settled. */
function listeners(conn: MqttConnection, signal: AbortSignal): number[] {
  return [conn.client.listenerCount('close'), getEventListeners(signal, 'abort').length];
}

describe('MqttConnection.untilAnswered', () => {
  it('resolves when the work settles it, and releases its listeners and timer', async () => {
    const conn = await connection();
    const signal = new AbortController().signal;
    const before = listeners(conn, signal);
    // Only setTimeout is faked, so the broker's answer still arrives: counts the timers it leaves.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const timers = vi.getTimerCount();
    let sawSettled: boolean | undefined;
    await conn.untilAnswered(signal, 60_000, 'answer', (answer) => {
      expect(answer.settled).toBe(false);
      conn.client.unsubscribe('barrier/none', () => {
        answer.settle();
        sawSettled = answer.settled;
        // A second settlement is ignored: the promise is already resolved.
        answer.settle(new Error('late'));
      });
    });
    expect(sawSettled).toBe(true);
    expect(vi.getTimerCount()).toBe(timers);
    vi.useRealTimers();
    expect(listeners(conn, signal)).toEqual(before);
  });

  it('rejects with the error the work settles it with', async () => {
    const conn = await connection();
    const failure = new Error('refused');
    await expect(
      conn.untilAnswered(new AbortController().signal, 60_000, 'answer', (answer) => answer.settle(failure)),
    ).rejects.toBe(failure);
  });

  it('rejects with the error the work throws, and releases its listeners', async () => {
    const conn = await connection();
    const signal = new AbortController().signal;
    const before = listeners(conn, signal);
    await expect(
      conn.untilAnswered(signal, 60_000, 'answer', () => {
        throw new Error('bad packet');
      }),
    ).rejects.toThrow('bad packet');
    expect(listeners(conn, signal)).toEqual(before);
  });

  it('rejects with NotConnectedError when the connection closes first', async () => {
    const conn = await connection();
    const signal = new AbortController().signal;
    const before = listeners(conn, signal);
    const waiting = conn.untilAnswered(signal, 60_000, 'answer', () => {
      // Never answered: the connection is closed under it.
      conn.client.stream.destroy();
    });
    await expect(waiting).rejects.toBeInstanceOf(NotConnectedError);
    expect(listeners(conn, signal)).toEqual(before);
  });

  it('rejects with RetryableError when the signal aborts, or was aborted before it started', async () => {
    const conn = await connection();
    const controller = new AbortController();
    const before = listeners(conn, controller.signal);
    const waiting = conn.untilAnswered(controller.signal, 60_000, 'answer', () => controller.abort());
    await expect(waiting).rejects.toThrow(new RetryableError('write aborted'));
    expect(listeners(conn, controller.signal)).toEqual(before);

    let started = false;
    await expect(
      conn.untilAnswered(controller.signal, 60_000, 'answer', () => {
        started = true;
      }),
    ).rejects.toBeInstanceOf(RetryableError);
    expect(started).toBe(false);
  });

  it('rejects with RetryableError naming what it waited for when nothing settles it in time', async () => {
    const conn = await connection();
    const signal = new AbortController().signal;
    const before = listeners(conn, signal);
    const waiting = conn.untilAnswered(signal, 50, 'acknowledgement', () => {});
    await expect(waiting).rejects.toBeInstanceOf(RetryableError);
    await expect(waiting).rejects.toThrow(`no acknowledgement from ${conn.where} within 50 ms`);
    expect(listeners(conn, signal)).toEqual(before);
  });
});
