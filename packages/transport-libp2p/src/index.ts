import './polyfill.js';
export { Libp2pTransport, protocolIds, DEFAULT_MAX_FRAME_BYTES, UNKNOWN } from './transport.js';
export { MAX_RECORD_ADDRS, MAX_RECORD_BYTES } from './address-book.js';
export type { Libp2pTransportOptions, PeerConfig, ClientKeyConfig, FrameHandler } from './transport.js';
export { Libp2pClientEndpoint } from './client-endpoint.js';
export type { Libp2pClientEndpointOptions } from './client-endpoint.js';
export { privateKeyFromSeed, peerIdFromEd25519, peerIdStringFromSeed, rawEd25519 } from './identity.js';
export { FrameReader, encodeFrames, HEADER_BYTES } from './framing.js';
