import { describe, expect, it } from 'vitest';
import { Inbox } from './inbox.js';
import { createMessage, type Message } from './message.js';

const msg = (id: string): Message => createMessage({ id, payload: id });
const ids = (messages: Message[]): string[] => messages.map((m) => m.id);

describe('Inbox: the end of a burst', () => {
  it('marks the delivery that ends with the burst as quiet for the time the source said', async () => {
    const inbox = new Inbox({ capacity: 100, maxBatch: 100 });
    inbox.push(msg('a'));
    inbox.push(msg('b'));
    inbox.endBurst(100);
    const d = await inbox.read();
    expect(ids(d!.messages)).toEqual(['a', 'b']);
    expect(d!.quietFor).toBe(100);
  });

  it('does not mark a delivery that ends before the burst does, nor one that goes on into the next burst', async () => {
    const inbox = new Inbox({ capacity: 100, maxBatch: 2 });
    for (const id of ['a', 'b', 'c']) inbox.push(msg(id));
    inbox.endBurst(100);
    const first = await inbox.read();
    expect(ids(first!.messages)).toEqual(['a', 'b']);
    expect(first!.quietFor).toBeUndefined();
    const last = await inbox.read();
    expect(ids(last!.messages)).toEqual(['c']);
    expect(last!.quietFor).toBe(100);

    const wide = new Inbox({ capacity: 100, maxBatch: 100 });
    wide.push(msg('a'));
    wide.endBurst(100);
    wide.push(msg('b')); // the next burst has begun, and not ended
    const d = await wide.read();
    expect(ids(d!.messages)).toEqual(['a', 'b']);
    expect(d!.quietFor).toBeUndefined();
  });

  it('a burst end with nothing queued marks nothing, and the mark does not outlive its messages', async () => {
    const inbox = new Inbox({ capacity: 100, maxBatch: 100 });
    inbox.endBurst(100);
    inbox.push(msg('a'));
    expect((await inbox.read())!.quietFor).toBeUndefined();
    inbox.push(msg('b'));
    inbox.endBurst(50);
    inbox.failUnread(new Error('connection lost'));
    inbox.push(msg('c'));
    expect((await inbox.read())!.quietFor).toBeUndefined();
  });

  it('a reader woken by the first push of a burst gets the whole burst, marked, when it is pushed in one tick', async () => {
    const inbox = new Inbox({ capacity: 100, maxBatch: 100 });
    const reading = inbox.read();
    for (const id of ['a', 'b', 'c']) inbox.push(msg(id));
    inbox.endBurst(100);
    const d = await reading;
    expect(ids(d!.messages)).toEqual(['a', 'b', 'c']);
    expect(d!.quietFor).toBe(100);
  });
});

describe('Inbox: settles', () => {
  it('settles functions and objects with a settle method alike, in push order, with the error of the ack', async () => {
    const inbox = new Inbox({ capacity: 100, maxBatch: 100 });
    const calls: string[] = [];
    const held = (name: string) => ({
      settle: (error?: Error) => calls.push(`${name}:${error?.message ?? 'ok'}`),
    });
    inbox.push(msg('a'), held('a'));
    inbox.push(msg('b'), (error) => calls.push(`b:${error?.message ?? 'ok'}`));
    inbox.push(msg('c'));
    inbox.push(msg('d'), held('d'));
    const d = await inbox.read();
    d!.ack(new Error('not stored'));
    expect(calls).toEqual(['a:not stored', 'b:not stored', 'd:not stored']);
    expect(inbox.size).toBe(0);

    inbox.push(msg('e'), held('e'));
    (await inbox.read())!.ack();
    inbox.push(msg('f'), held('f'));
    inbox.failUnread(new Error('lost'));
    inbox.close();
    inbox.push(msg('g'), held('g'));
    expect(calls.slice(3)).toEqual(['e:ok', 'f:lost', 'g:inbox closed']);
  });
});
