/**
 * Topic patterns with named levels: `site/{site}/line/{line}/#`. A level is literal text, `+` (any
 * one level, not kept), `{name}` (any one level, kept as `name`) or, last, `#` (any number of levels,
 * including none). The MQTT wildcards keep their meaning, so a pattern reads like a subscription.
 */
export interface TopicPattern {
  source: string;
  /** The named levels of the topic, or undefined when it does not match. */
  match(topic: string): Record<string, string> | undefined;
}

type Level = { literal: string } | { any: true } | { name: string } | { rest: true };

const NAME = /^\{([A-Za-z_][\w.-]*)\}$/;

/** Throws an Error with a readable message when the pattern is malformed. */
export function compileTopicPattern(source: string): TopicPattern {
  if (source === '') throw new Error('the topic pattern is empty');
  const names = new Set<string>();
  const levels: Level[] = source.split('/').map((text, i, all) => {
    if (text === '#') {
      if (i !== all.length - 1)
        throw new Error(`"#" must be the last level of the topic pattern "${source}"`);
      return { rest: true };
    }
    if (text === '+') return { any: true };
    const named = NAME.exec(text);
    if (named) {
      const name = named[1]!;
      if (names.has(name))
        throw new Error(`the name {${name}} appears twice in the topic pattern "${source}"`);
      names.add(name);
      return { name };
    }
    if (/[{}+#]/.test(text))
      throw new Error(
        `level "${text}" of the topic pattern "${source}" must be literal text, +, #, or a whole {name} (letters, digits, _, - and .)`,
      );
    return { literal: text };
  });
  if (names.size === 0)
    throw new Error(`the topic pattern "${source}" names no level: write e.g. site/{site}/line/{line}/#`);
  const hasRest = 'rest' in levels[levels.length - 1]!;
  const fixed = hasRest ? levels.length - 1 : levels.length;
  return {
    source,
    match(topic) {
      const parts = topic.split('/');
      if (hasRest ? parts.length < fixed : parts.length !== fixed) return undefined;
      const out: Record<string, string> = {};
      for (let i = 0; i < fixed; i++) {
        const level = levels[i]!;
        const part = parts[i]!;
        if ('literal' in level) {
          if (part !== level.literal) return undefined;
        } else if ('name' in level) out[level.name] = part;
      }
      return out;
    },
  };
}
