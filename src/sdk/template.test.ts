import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BLOCK_LIMIT_MS, measureBlocking } from '../../test/harness/event-loop.js';
import { createMessage } from './message.js';
import { compileTemplate, TemplateError, type TemplatePart } from './template.js';

const message = createMessage({
  id: 'm1',
  payload: { device: 'd7', n: 3 },
  meta: { 'mqtt.topic': 'plant/a/b' },
  time: Date.UTC(2026, 11, 5, 8, 30),
});

describe('templates', () => {
  it('render paths, metadata, topic levels and dates', () => {
    const render = compileTemplate(
      '{{payload.device}}/{{ topic[1] }}/{{ meta.mqtt.topic }}/{{date:YYYY-MM-DD}}/{{id}}',
    );
    expect(render(message)).toBe('d7/a/plant/a/b/2026-12-05/m1');
    expect(() => compileTemplate('a {{ id')).toThrow(TemplateError);
  });

  it('read topic levels and dotted meta keys as split and join would, whatever the topic', () => {
    // The getters scan the topic and try precomputed meta keys (per message, no arrays); the
    // reference is the definition: topic.split('/')[N], and the longest dotted meta key first.
    const level = fc.constantFrom('', 'a', 'b', 'a.b', 'x/y');
    fc.assert(
      fc.property(
        fc.array(level, { maxLength: 5 }).map((levels) => levels.join('/')),
        fc.nat(6),
        fc.dictionary(
          fc.constantFrom('a', 'a.b', 'a.b.c', 'b'),
          fc.constantFrom('v', { c: 'w' }, { b: { c: 'z' } }),
        ),
        (topic, n, meta) => {
          const m = createMessage({ id: 'm', payload: {}, meta: { ...meta, 'mqtt.topic': topic }, time: 0 });
          expect(compileTemplate(`{{ topic[${n}] }}`)(m)).toBe(topic.split('/')[n] ?? '');
          const path = ['a', 'b', 'c'];
          let expected: unknown;
          for (let k = path.length; k > 0 && expected === undefined; k--) {
            const key = path.slice(0, k).join('.');
            if (key in m.meta)
              expected = path
                .slice(k)
                .reduce<unknown>((v, s) => (v as Record<string, unknown> | undefined)?.[s], m.meta[key]);
            if (key in m.meta) break;
          }
          const text =
            expected === undefined
              ? ''
              : typeof expected === 'object'
                ? JSON.stringify(expected)
                : String(expected);
          expect(compileTemplate('{{ meta.a.b.c }}')(m)).toBe(text);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('find their parts in linear time: `{{` and 4,000 spaces backtracked for 45 s', async () => {
    for (const template of [
      `{{${' '.repeat(100_000)}`,
      `${'{{'.repeat(50_000)}}`,
      `{{${' }'.repeat(50_000)}`,
    ]) {
      const { blockedMs, error } = await measureBlocking(() => compileTemplate(template));
      expect(blockedMs).toBeLessThan(BLOCK_LIMIT_MS);
      expect(error).toBeInstanceOf(TemplateError);
    }
  });

  it('split a template into the same parts as the regular expression used before', () => {
    // The former definition of a part, fast enough on short text.
    const PART = /\{\{\s*([^}]*?)\s*\}\}/g;
    const text = fc
      .array(fc.constantFrom('{', '}', '{{', '}}', ' ', '\t', 'id', 'a', '.'), { maxLength: 16 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(text, (template) => {
        let render: ((m: typeof message) => string) | undefined;
        try {
          render = compileTemplate(template);
        } catch (error) {
          expect(error).toBeInstanceOf(TemplateError);
          return;
        }
        // The same text, rendered part by part where the regular expression found the parts.
        let pos = 0;
        let built = '';
        for (const m of template.matchAll(PART)) {
          built += template.slice(pos, m.index) + compileTemplate(`{{${m[1]}}}`)(message);
          pos = m.index + m[0].length;
        }
        built += template.slice(pos);
        expect(render(message)).toBe(built);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('compileTemplate value option', () => {
  it('sees each rendered value with where it came from, and never the literal text', () => {
    const parts: [string, TemplatePart][] = [];
    const render = compileTemplate(
      'a/{{ payload.x }}/{{ meta.site }}/{{ meta.mqtt.topic }}/{{ meta["mqtt.topic"] }}/{{ topic[1] }}/{{ id }}/{{ pipeline }}/{{ date:YYYY }}',
      {
        value: (text, part) => {
          parts.push([text, part]);
          return text.toUpperCase();
        },
      },
    );
    const message = createMessage({
      id: 'm1',
      payload: { x: 'p/q' },
      meta: { site: 's', 'mqtt.topic': 'in/t' },
      time: Date.UTC(2026, 0, 1),
    });
    expect(render(message, { pipeline: 'pl' })).toBe('a/P/Q/S/IN/T/IN/T/T/M1/PL/2026');
    expect(parts.map(([text, p]) => `${p.source} ${p.expression} ${text}`)).toEqual([
      'payload payload.x p/q',
      'meta meta.site s',
      'source-topic meta.mqtt.topic in/t',
      'source-topic meta["mqtt.topic"] in/t',
      'source-topic topic[1] t',
      'id id m1',
      'pipeline pipeline pl',
      'date date:YYYY 2026',
    ]);
  });

  it('fails the render when the option throws', () => {
    const render = compileTemplate('{{ payload.x }}', {
      value: () => {
        throw new TemplateError('refused');
      },
    });
    expect(() => render(createMessage({ id: 'm', payload: { x: 1 } }))).toThrow('refused');
  });
});
