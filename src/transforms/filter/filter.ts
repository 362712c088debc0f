import type { Logger, Message, Transform, TransformContext } from '../../sdk/index.js';
import { compileJsonata, describeError, excerpt } from '../jsonata.js';
import { toBoolean } from './expression.js';
import type { FilterTransformConfig } from './spec.js';

/** Keeps the messages for which the expression is truthy; passes them on unchanged (same objects). */
export class FilterTransform implements Transform {
  private readonly evaluate: (message: Message) => Promise<unknown>;
  private readonly label: string;
  private warned = false;

  constructor(private readonly config: FilterTransformConfig) {
    this.evaluate = compileJsonata(config.expression, config.timeout);
    this.label = excerpt(config.expression);
  }

  async apply(batch: Message[], ctx: TransformContext): Promise<Message[]> {
    const out: Message[] = [];
    // One at a time: JSONata is CPU-bound, concurrency only adds overhead (see map/README.md).
    for (const message of batch) {
      let result: unknown;
      try {
        result = await this.evaluate(message);
      } catch (error) {
        const reason = `filter: expression \`${this.label}\` failed: ${describeError(error)}`;
        if (this.config.onError === 'reject') ctx.reject(message, reason);
        else {
          this.report(ctx.logger, message, reason);
          if (this.config.onError === 'keep') out.push(message);
        }
        continue;
      }
      if (toBoolean(result)) out.push(message);
    }
    return out;
  }

  /** Dropped or kept on error: say so once at warn level, then at debug, so a bad stream does not flood the log. */
  private report(logger: Logger, message: Message, reason: string): void {
    const entry = { messageId: message.id, reason, onError: this.config.onError };
    if (this.warned) logger.debug(entry, 'filter expression failed');
    else {
      this.warned = true;
      logger.warn(entry, 'filter expression failed (further failures are logged at debug level)');
    }
  }
}
