import { describe, expect, it } from 'vitest';
import { nameCollisions, namespaceChanges, type ResolvedNode } from './resolve.js';

describe('namespaceChanges', () => {
  const before = ['http://opcfoundation.org/UA/', 'urn:server', 'urn:plant'];
  it('names the plain ns= NodeIds (and folders) whose index now holds another URI, with the nsu= form', () => {
    const specs = [
      'ns=2;s=Line1.Temperature',
      { folder: 'ns=2;s=Line2', depth: 1 },
      'nsu=urn:plant;s=X',
      'i=2258',
    ];
    const [w, ...rest] = namespaceChanges(specs as never, before, [
      ...before.slice(0, 2),
      'urn:decoy',
      'urn:plant',
    ]);
    expect(rest).toEqual([]);
    expect(w).toContain('namespace 2 was "urn:plant" at the previous connect and is now "urn:decoy"');
    expect(w).toContain('nsu=urn:plant;s=Line1.Temperature, nsu=urn:plant;s=Line2');
    expect(w).not.toContain('s=X');
  });
  it('says nothing when the URIs behind the indexes used are the same, and reports a vanished one', () => {
    expect(namespaceChanges(['ns=2;s=A'], before, [...before, 'urn:new'])).toEqual([]);
    expect(namespaceChanges(['ns=2;s=A'], before, before.slice(0, 2))[0]).toContain('is now gone');
  });
});

describe('nameCollisions', () => {
  it('lists names shared by nodes', () => {
    const node = (name: string, id: string): ResolvedNode => ({ name, nodeIdText: id }) as ResolvedNode;
    expect(nameCollisions([node('a', 'ns=1;i=1'), node('b', 'ns=1;i=2')])).toEqual([]);
    expect(nameCollisions([node('T', 'ns=1;i=1'), node('T', 'ns=1;i=2')])[0]).toMatch(
      /ns=1;i=1, ns=1;i=2 are all named "T"/,
    );
  });
});
