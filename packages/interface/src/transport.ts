import type { NodeId } from './identity.js';

/** Why a transport dropped an inbound frame; counted per peer. */
export type DropReason = 'oversized' | 'malformed' | 'rate-limited' | 'queue-full' | 'unknown-peer';

export interface TransportStats {
  readonly framesSent: number;
  readonly framesReceived: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly dropped: Readonly<Record<string, Readonly<Partial<Record<DropReason, number>>>>>;
}

/**
 * Moves opaque frames between validators. The sender identity handed to `onFrame` is the
 * authenticated one (e.g. the noise-handshake key mapped to a validator id), never a claim
 * inside the frame. `send` never throws for a slow or absent peer: frames are queued, coalesced
 * and, past the queue limit, dropped — consensus protocols retransmit what matters.
 */
export interface Transport {
  readonly self: NodeId;
  start(): Promise<void>;
  stop(): Promise<void>;
  send(to: NodeId, frame: Uint8Array): void;
  /** Sends to every other validator. */
  broadcast(frame: Uint8Array): void;
  onFrame(handler: (from: NodeId, frame: Uint8Array) => void): void;
  /** Validators currently connected. */
  connectedPeers(): readonly NodeId[];
  stats(): TransportStats;
}
