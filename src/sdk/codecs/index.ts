/** Payload codecs shared by connectors and transforms: Cayenne LPP and declarative byte layouts. */
export * from './errors.js';
export * from './cayenne-lpp.js';
export * from './byte-layout.js';
