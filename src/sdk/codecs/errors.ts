import { FatalError } from '../errors.js';

/**
 * A payload that a codec cannot decode or a value it cannot encode. It is a FatalError: retrying
 * the same bytes gives the same answer, so the message is dead-lettered with this reason.
 * `offset` is the byte position in the frame where decoding stopped, when known.
 */
export class CodecError extends FatalError {
  readonly offset: number | undefined;
  constructor(message: string, options?: { offset?: number; cause?: unknown }) {
    super(message, options);
    this.offset = options?.offset;
  }
}
