import { z } from 'zod';
import { type Message, type TransformContext } from '../../sdk/index.js';
import { byteLayoutSchema } from '../../sdk/codecs/index.js';
import { compileLocation, locationField } from './location.js';

/** The formats decode reads and encode writes. */
export const FRAME_FORMATS = ['json', 'text', 'base64', 'hex', 'cayenne-lpp', 'byte-layout'] as const;

/**
 * The fields decode and encode share, described for `verb`; with the frame's text form (`from`
 * for decode, `to` for encode, as `frameForm`) and `checkFrameOptions`.
 */
export function frameFields(verb: 'decode' | 'encode', descriptions: { formats: string; field: string }) {
  return {
    format: z.enum(FRAME_FORMATS).describe(descriptions.formats),
    field: locationField(descriptions.field).default('payload'),
    target: locationField(
      `Where the ${verb}d value goes. Default: in place of the value ${verb}d.`,
    ).optional(),
    layout: byteLayoutSchema
      .optional()
      .describe('byte-layout: the fields at fixed byte offsets (required for it).'),
    maxBytes: z
      .int()
      .positive()
      .default(1_048_576)
      .describe(
        `Largest ${verb === 'decode' ? 'input' : 'output'} accepted, in bytes (characters for text); a larger one is rejected with the reason.`,
      ),
  };
}

/** How a Cayenne LPP or byte-layout frame is given: bytes, or base64 or hex text. */
export const frameForm = (description: string) =>
  z.enum(['bytes', 'base64', 'hex']).default('bytes').describe(description);

/**
 * The checks decode and encode share: `layout` goes with format byte-layout only, and the frame's
 * text form (`from` for decode, `to` for encode) with cayenne-lpp and byte-layout only.
 */
export function checkFrameOptions(
  c: { format: string; layout?: unknown },
  ctx: z.RefinementCtx,
  frame: { key: 'from' | 'to'; value: string; otherwise: string },
): void {
  if (c.format === 'byte-layout' && !c.layout)
    ctx.addIssue({ code: 'custom', path: ['layout'], message: 'format byte-layout needs a layout' });
  if (c.format !== 'byte-layout' && c.layout)
    ctx.addIssue({
      code: 'custom',
      path: ['layout'],
      message: `layout is only for format byte-layout, not ${c.format}`,
    });
  if (frame.value !== 'bytes' && c.format !== 'cayenne-lpp' && c.format !== 'byte-layout')
    ctx.addIssue({
      code: 'custom',
      path: [frame.key],
      message: `${frame.key} is only for cayenne-lpp and byte-layout; for ${c.format}, ${frame.otherwise}`,
    });
}

/** A converted value, or why the value can not be converted. */
export type Outcome = { value: unknown } | string;

/**
 * The transform of decode and encode: `convert` the value at `field` of each message into
 * `target` (the same place by default); a message it refuses is rejected as `<label>: <reason>`.
 */
export function convertEach(
  config: { field: string; target?: string | undefined },
  label: string,
  convert: (value: unknown) => Outcome,
): (batch: Message[], ctx: TransformContext) => Message[] {
  const field = compileLocation(config.field);
  const target = compileLocation(config.target ?? config.field);
  return (batch, ctx) => {
    const out: Message[] = [];
    for (const message of batch) {
      const outcome = convert(field.get(message));
      if (typeof outcome === 'string') {
        ctx.reject(message, `${label}: ${field.text} ${outcome}`);
        continue;
      }
      const next = target.set(message, outcome.value);
      if (typeof next === 'string') ctx.reject(message, `${label}: ${next}`);
      else out.push(next);
    }
    return out;
  };
}
