import { FatalError } from '../../sdk/index.js';
import type { Message, TransformContext } from '../../sdk/index.js';

/** A field a transform can not work on (missing when required, wrong kind): the message is rejected. */
export class FieldError extends FatalError {}

/**
 * Applies `one` to every message of a batch. A message whose `one` throws `rejectable` is
 * dead-lettered as `<type>: <reason>` and the rest of the batch goes on; any other error is a bug
 * and fails the batch (the engine dead-letters it whole).
 */
export function eachMessage(
  batch: Message[],
  ctx: TransformContext,
  type: string,
  rejectable: new (message: string) => Error,
  one: (message: Message) => Message,
): Message[] {
  const out: Message[] = [];
  for (const message of batch) {
    try {
      out.push(one(message));
    } catch (error) {
      if (!(error instanceof rejectable)) throw error;
      ctx.reject(message, `${type}: ${error.message}`);
    }
  }
  return out;
}
