import { describe, expect, it } from 'vitest';
import {
  ColumnPathError,
  InferredColumns,
  compileColumns,
  escapeFormula,
  isFormulaLike,
  toCell,
  toRow,
} from './columns.js';
import { FatalError } from './errors.js';
import { createMessage } from './message.js';

const msg = (payload: unknown, meta: Record<string, unknown> = {}) =>
  createMessage({ id: 'm1', payload, meta, time: Date.UTC(2026, 0, 2, 3, 4, 5) });

describe('column mapping', () => {
  it('reads payload paths, metadata, topic levels and the time with their types', () => {
    const columns = compileColumns([
      { header: 'time', value: 'time' },
      { header: 'temp', value: 'payload.t', type: 'number', format: '0.0' },
      { header: 'count', value: 'payload.n', type: 'integer' },
      { header: 'ok', value: 'payload.ok', type: 'boolean' },
      { header: 'topic', value: 'meta.mqtt.topic' },
      { header: 'site', value: 'topic[1]', type: 'text' },
    ]);
    const { cells, errors } = toRow(
      columns,
      msg({ t: '21.5', n: 4.6, ok: 'true' }, { 'mqtt.topic': 'plant/north/t1' }),
    );
    expect(errors).toEqual([]);
    expect(cells).toEqual([
      new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
      21.5,
      5,
      true,
      'plant/north/t1',
      'north',
    ]);
    expect(columns[0]?.format).toBe('yyyy-mm-dd hh:mm:ss');
  });

  it('leaves a cell empty and names the column when a value can not be converted', () => {
    const [c] = compileColumns([{ header: 'temp', value: 'payload.t', type: 'number' }]);
    expect(toCell(c!, 'warm')).toEqual({
      value: null,
      error: 'column "temp": "warm" is not a finite number',
    });
    expect(toCell(c!, Number.NaN)).toMatchObject({ value: null });
    expect(toCell(c!, undefined)).toEqual({ value: null });
  });

  it('refuses a bad value expression with the column named', () => {
    expect(() => compileColumns([{ header: 'x', value: 'payload[x' }])).toThrow(/columns\[0\] \(x\)/);
    expect(() => compileColumns([{ header: 'x', value: 'nothing.here' }])).toThrow(/unknown name/);
  });

  it('infers time then every scalar field, and only appends new fields later', () => {
    const inferred = new InferredColumns();
    inferred.observe([msg({ a: 1, nested: { b: 'x', 'c d': true }, list: [1, 2] })]);
    expect(inferred.columns.map((c) => c.header)).toEqual(['time', 'a', 'nested.b', 'nested.c d', 'list']);
    expect(inferred.observe([msg({ z: 2, a: 3 })])).toBe(1);
    expect(inferred.columns.map((c) => c.header)).toEqual([
      'time',
      'a',
      'nested.b',
      'nested.c d',
      'list',
      'z',
    ]);
    const { cells } = toRow(inferred.columns, msg({ a: 1, nested: { b: 'x', 'c d': true }, list: [1, 2] }));
    expect(cells.slice(1)).toEqual([1, 'x', true, '[1,2]', null]);
    const scalar = new InferredColumns();
    scalar.observe([msg(42)]);
    expect(toRow(scalar.columns, msg(42)).cells.slice(1)).toEqual([42]);
  });

  it('gives every column a unique header: a payload field named like another column gets " (2)"', () => {
    const inferred = new InferredColumns();
    inferred.observe([msg({ time: 'field', a: { b: 1 }, 'a.b': 2, 'time (2)': 'taken' })]);
    expect(inferred.columns.map((c) => c.header)).toEqual([
      'time',
      'time (2)',
      'a.b',
      'a.b (2)',
      'time (2) (2)',
    ]);
    const { cells } = toRow(
      inferred.columns,
      msg({ time: 'field', a: { b: 1 }, 'a.b': 2, 'time (2)': 'taken' }),
    );
    expect(cells.slice(1)).toEqual(['field', 1, 2, 'taken']);
    // After a restart the same fields find their columns again, and new ones stay unique.
    const restored = new InferredColumns(inferred.columns.map((c) => ({ header: c.header, value: c.value })));
    expect(restored.observe([msg({ time: 'again', 'a.b': 3 })])).toBe(0);
    restored.observe([msg({ 'a.b (2)': 'new' })]);
    expect(restored.columns.at(-1)?.header).toBe('a.b (2) (2)');
    // Configured columns follow the same rule.
    const configured = compileColumns([
      { header: 'x', value: 'payload.a' },
      { header: 'x', value: 'payload.b' },
    ]);
    expect(configured.map((c) => c.header)).toEqual(['x', 'x (2)']);
  });

  it('reads fields whose names hold quotes, brackets or dots', () => {
    const payload = { 'a"b': 1, "c'd": 2, 'e]f': 3, 'g.h': 4 };
    const inferred = new InferredColumns();
    inferred.observe([msg(payload)]);
    expect(inferred.columns.map((c) => c.header)).toEqual(['time', 'a"b', "c'd", 'e]f', 'g.h']);
    expect(toRow(inferred.columns, msg(payload)).cells.slice(1)).toEqual([1, 2, 3, 4]);
  });

  it('a field name no column path can hold fails that message alone, with a FatalError', () => {
    const inferred = new InferredColumns();
    const bad = createMessage({ id: 'bad-1', payload: { ok: 1, 'both"\'quotes': 2 }, meta: {}, time: 0 });
    let error: unknown;
    try {
      inferred.observe([bad]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ColumnPathError);
    expect(error).toBeInstanceOf(FatalError);
    expect((error as ColumnPathError).messageId).toBe('bad-1');
    expect((error as Error).message).toMatch(/both"'quotes.*can not be a column/);
    // Nothing of the failed message was added; the next messages are inferred as usual.
    expect(inferred.columns.map((c) => c.header)).toEqual(['time']);
    inferred.observe([msg({ ok: 1 })]);
    expect(inferred.columns.map((c) => c.header)).toEqual(['time', 'ok']);
  });

  it('recognises formula-like text and escapes it for parsed input', () => {
    for (const t of ['=1+1', '+3', '-2', '@SUM(A1)', '\tx', '\rx']) expect(isFormulaLike(t)).toBe(true);
    expect(isFormulaLike('a=b')).toBe(false);
    expect(escapeFormula('=HYPERLINK("x")')).toBe('\'=HYPERLINK("x")');
    expect(escapeFormula('plain')).toBe('plain');
  });
});
