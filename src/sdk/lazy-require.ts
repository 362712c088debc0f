import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const loaded = new Map<string, unknown>();

/**
 * Requires a CommonJS package the first time it is needed, synchronously (zod refinements and other
 * synchronous checks cannot await an import). Used for what most configurations never touch: a
 * plain relay must not pay for JSONata or RE2 it does not use (docs/architecture.md, "Specs,
 * implementations and idle memory"). A package that is not installed fails with an error that
 * names it and says what needs it, not a bare MODULE_NOT_FOUND.
 */
export function lazyRequire<T>(name: string, neededFor: string): T {
  if (loaded.has(name)) return loaded.get(name) as T;
  let value: T;
  try {
    value = require(name) as T;
  } catch (error) {
    if (
      (error as { code?: unknown }).code === 'MODULE_NOT_FOUND' &&
      String((error as Error).message).includes(`'${name}'`)
    )
      throw new Error(
        `${neededFor} needs the package "${name}", which is not installed: run \`npm install ${name}\` in the passerelle folder (or reinstall with \`npm ci\`)`,
        { cause: error },
      );
    throw error;
  }
  loaded.set(name, value);
  return value;
}
