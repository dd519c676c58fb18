import { yamux } from '@chainsafe/libp2p-yamux';

/**
 * The largest receive window of a yamux stream: how much a peer may have in flight to us before
 * it waits for a WINDOW_UPDATE. Streams start at yamux's fixed 256 KiB; our patch of
 * @chainsafe/libp2p-yamux (see README) opens the window to this size at the first update. Stock
 * js-yamux grows it only when the window drained within four ping round trips, which on loopback
 * with a busy event loop between reads (an fsync, a big batch) never happened: a 1 MiB frame
 * waited for four updates, each behind the receiver's event loop. 8 MiB holds two of our largest
 * frames (4 MiB). Memory stays bounded by the per-peer inbound queues (frames and bytes), not by
 * the window. Growing the window is a plain WINDOW_UPDATE, so any yamux peer interoperates.
 */
export const MAX_STREAM_WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * Streams per connection and direction. We use a handful (consensus ≤ 4, client ≤ 8 per protocol
 * handler); yamux's default of 1,000 would let one admitted peer hold a thousand streams, each
 * buffering up to a read buffer (4 MiB) before protocol negotiation caps them.
 */
export const MAX_STREAMS_PER_CONNECTION = 32;

/** The stream muxer of every Phalanx libp2p node (replica transport and client endpoint). */
export function phalanxYamux(): ReturnType<typeof yamux> {
  return yamux({
    maxInboundStreams: MAX_STREAMS_PER_CONNECTION,
    maxOutboundStreams: MAX_STREAMS_PER_CONNECTION,
    streamOptions: { maxStreamWindowSize: MAX_STREAM_WINDOW_BYTES },
  });
}
