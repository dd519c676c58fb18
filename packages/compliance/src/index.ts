// Each suite lives in its own folder and is exported from here; suites take a factory so every
// adapter, transport and protocol package runs them from its own tests.
export * from './storage/index.js';
export * from './protocol/index.js';
export * from './transport/index.js';
