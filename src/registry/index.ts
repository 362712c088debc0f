import { builtinSpecs } from './builtin-specs.js';
import type { Registry } from './types.js';

export type { Registry, ComponentKind } from './types.js';
export { findComponent, componentsOf, allComponents, loadComponent } from './types.js';
export { builtinSpecs } from './builtin-specs.js';

const all = <T>(imports: Record<string, () => Promise<T>>): Promise<T[]> =>
  Promise.all(Object.values(imports).map((load) => load()));

/**
 * The built-in components, as specs (each folder's spec.ts, listed in ./builtin-specs.ts): listing,
 * validating and documenting them loads no implementation. `loadComponent()` (done by `toPlan`)
 * imports the implementation of the components a pipeline uses, when it is about to run. See
 * src/sdk/define.ts. Importing this module imports every spec: `passerelle run` uses
 * `lazyBuiltinRegistry()` (./lazy.ts) instead.
 */
export const builtinRegistry: Registry = {
  sources: await all(builtinSpecs.source),
  sinks: await all(builtinSpecs.sink),
  transforms: await all(builtinSpecs.transform),
};
