// The wire protocol: every frame the server sends, as types and encoders, and every path it serves.
// A new frame type gets its interface and encoder in the file of the socket that carries it. This
// folder imports nothing from outside it (eslint.config.mjs): services, the SDK and the page take
// their wire types from here.
export * from './auth-frames.js';
export * from './close-codes.js';
export * from './events-frames.js';
export * from './ingest-frames.js';
export * from './monitor-frames.js';
export * from './paths.js';
export * from './resume-frames.js';
export * from './quarantine-frames.js';
