import type { z } from 'zod';

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
