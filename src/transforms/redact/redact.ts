import type { Message, Transform, TransformContext } from '../../sdk/index.js';
import {
  REMOVE,
  copyObject,
  describeValue,
  editPath,
  isContainer,
  notContainerReason,
} from '../shared/field-paths.js';
import type { RedactTransformConfig } from './spec.js';

/** Removes or blanks fields and metadata keys. A field that is not there is already redacted. */
export class RedactTransform implements Transform {
  private readonly replacement: unknown;

  constructor(private readonly config: RedactTransformConfig) {
    this.replacement = config.mode === 'drop' ? REMOVE : config.blank;
  }

  apply(batch: Message[], ctx: TransformContext): Message[] {
    const out: Message[] = [];
    let shapeProblem: string | undefined;
    const visitor = {
      found: (): unknown => this.replacement,
      missing: () => {},
      notContainer: (at: string, value: unknown, wanted: string) =>
        void (shapeProblem ??= notContainerReason(at, value, wanted)),
    };
    for (const message of batch) {
      shapeProblem = undefined;
      let payload = message.payload;
      if (this.config.fields.length > 0) {
        // Fail closed: fields we cannot see into may still hold what should be removed.
        if (!isContainer(payload)) {
          ctx.reject(
            message,
            `redact: the payload is ${describeValue(payload)}, not a JSON object or array, so ${this.config.fields.map((f) => f.text).join(', ')} can not be redacted: decode it first (e.g. the MQTT source's payload: json)`,
          );
          continue;
        }
        for (const path of this.config.fields) payload = editPath(payload, path, visitor);
        if (shapeProblem !== undefined) {
          ctx.reject(message, `redact: ${shapeProblem}`);
          continue;
        }
      }
      let meta = message.meta;
      const present = this.config.meta.filter((key) => Object.hasOwn(meta, key));
      if (present.length > 0) {
        if (this.replacement === REMOVE) meta = copyObject(meta, new Set(present));
        else {
          meta = copyObject(meta);
          for (const key of present) meta[key] = this.replacement;
        }
      }
      out.push(
        payload === message.payload && meta === message.meta
          ? message
          : { id: message.id, payload, meta, time: message.time },
      );
    }
    return out;
  }
}
