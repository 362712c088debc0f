import { z } from 'zod';
import { ANY, compileGetter, parsePathSegments } from '../../sdk/index.js';

/**
 * A `fields:` path that must give one value (deadband, aggregate): the path grammar of
 * src/sdk/path.ts, wildcards refused. Those transforms keep state or name outputs per path, and
 * the values a wildcard matches come and go with the data (array lengths, reordered items), so
 * the refusal gives the transform's reason and the explicit form to write instead.
 */
export function valuePath(transform: string, reason: string) {
  return z
    .string()
    .min(1)
    .superRefine((path, ctx) => {
      let wildcard = false;
      try {
        wildcard = parsePathSegments(path.trim()).includes(ANY);
      } catch {
        // Not a path at all: compileGetter below says what is wrong.
      }
      if (wildcard) {
        const example = path
          .trim()
          .replace(/\[\*\]/g, '[0]')
          .replace(/\*/g, 'a');
        ctx.addIssue({
          code: 'custom',
          message: `"${path}" has a wildcard ([*] or *), which matches several values: ${transform} ${reason}, so list each path (such as ${example})`,
        });
        return;
      }
      try {
        compileGetter(path);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
      }
    });
}
