export { MemoryHub, MemoryTransport, MemoryClientEndpoint, DEFAULT_MAX_FRAME_BYTES, DEFAULT_QUEUE_LIMIT } from './hub.js';
export type { MemoryHubOptions, MemoryTransportOptions, FrameHandler, LinkFilter } from './hub.js';
