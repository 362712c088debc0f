import { describe, expect, it } from 'vitest';
import { createMessage } from './message.js';
import { compileTemplate, TemplateError, type TemplatePart } from './template.js';

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
