import type { Libp2pOptions } from 'libp2p';
import { tcp } from '@libp2p/tcp';
import { noise } from '@chainsafe/libp2p-noise';
import { phalanxYamux } from './muxer.js';
import { DIAL_MS_PER_ADDRESS } from './dial-links.js';

/**
 * How long a ping may go unanswered before libp2p aborts the connection. libp2p pings every
 * connection every 10 s and, by default, aborts it once a ping takes longer than an adaptive
 * timeout of at least 5 s. A replica's event loop can stall longer than that: a checkpoint of a
 * large state (5 s and more past a million KV keys, measured), a major GC. The abort resets every
 * stream of the connection, so frames in flight are lost, replies queued for a client are dropped,
 * and replicas time out into view changes; and a stalled pinger aborts healthy connections too,
 * since its timer fires when it wakes. 30 s rides such stalls out; a peer that is really gone is
 * still let go of within ~40 s (without pings, TCP takes minutes to give up on a silent peer).
 */
const PING_TIMEOUT_MS = 30_000;

type NodeOptions = Pick<Libp2pOptions, 'transports' | 'connectionEncrypters' | 'streamMuxers' | 'connectionManager' | 'connectionMonitor'>;

/**
 * What every Phalanx libp2p node is built with, the replica transport and the client endpoint
 * alike: TCP, noise, our yamux, a silent address giving way to the next after
 * `DIAL_MS_PER_ADDRESS`, and the ping timeout above. Identity, listening and gating are theirs.
 */
export function nodeOptions(): NodeOptions {
  return {
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [phalanxYamux()],
    connectionManager: { addressDialTimeout: DIAL_MS_PER_ADDRESS },
    connectionMonitor: {
      pingInterval: 10_000,
      pingTimeout: { minTimeout: PING_TIMEOUT_MS, maxTimeout: 2 * PING_TIMEOUT_MS },
      abortConnectionOnPingFailure: true,
    },
  };
}
