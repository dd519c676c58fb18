/**
 * Length-prefixed frames: a 4-byte big-endian length, then the frame. We frame ourselves (rather
 * than with lpStream) so an oversized frame can be skipped and counted without tearing down the
 * stream, and so many frames coalesce into one buffer per write.
 */
import type { DropReason } from '@phalanx/interface';

export const HEADER_BYTES = 4;

/** Encodes `frames` back to back into one buffer. */
export function encodeFrames(frames: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const f of frames) total += HEADER_BYTES + f.length;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  let off = 0;
  for (const f of frames) {
    dv.setUint32(off, f.length);
    out.set(f, off + HEADER_BYTES);
    off += HEADER_BYTES + f.length;
  }
  return out;
}

/**
 * Incremental decoder for one stream. Chunks are kept in a list (no quadratic re-concatenation
 * for big frames); a frame lying in one chunk is handed out as a zero-copy view when it is most of
 * its buffer, and as a copy otherwise (so a queued frame never pins more than twice its size).
 */
export class FrameReader {
  private chunks: Uint8Array[] = [];
  private total = 0;
  /** Bytes of an oversized frame still to discard. */
  private skip = 0;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly onFrame: (frame: Uint8Array) => void,
    private readonly onDrop: (reason: DropReason) => void,
  ) {}

  /** Bytes buffered waiting for the rest of a frame. */
  get buffered(): number {
    return this.total;
  }

  push(chunk: Uint8Array): void {
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      chunk = chunk.subarray(n);
    }
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
    for (;;) {
      if (this.total < HEADER_BYTES) return;
      const len = this.peekU32();
      if (len > this.maxFrameBytes) {
        // Discard the header and the declared body as it streams past; the stream stays usable.
        this.onDrop('oversized');
        this.consume(HEADER_BYTES);
        const n = Math.min(len, this.total);
        this.consume(n);
        this.skip = len - n;
        continue;
      }
      if (this.total < HEADER_BYTES + len) return;
      this.consume(HEADER_BYTES);
      this.onFrame(this.take(len));
    }
  }

  /** The stream ended: a partial frame left over is a truncated (malformed) frame. */
  end(): void {
    if (this.total > 0 || this.skip > 0) this.onDrop('malformed');
    this.chunks = [];
    this.total = 0;
    this.skip = 0;
  }

  private peekU32(): number {
    const first = this.chunks[0]!;
    if (first.length >= HEADER_BYTES) {
      return new DataView(first.buffer, first.byteOffset, first.byteLength).getUint32(0);
    }
    const h = this.copyOut(HEADER_BYTES, false);
    return new DataView(h.buffer).getUint32(0);
  }

  private take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const first = this.chunks[0]!;
    if (first.length >= n) {
      // A view keeps its whole buffer alive while the frame waits in a queue that counts only
      // `n` bytes: a peer could pin a large chunk behind each tiny frame. Views that hold most of
      // their buffer stay zero-copy (big frames); small ones are copied out.
      const view = first.subarray(0, n);
      const out = view.buffer.byteLength > 2 * n ? view.slice() : view;
      this.consume(n);
      return out;
    }
    return this.copyOut(n, true);
  }

  private copyOut(n: number, consume: boolean): Uint8Array {
    const out = new Uint8Array(n);
    let off = 0;
    for (const c of this.chunks) {
      const m = Math.min(c.length, n - off);
      out.set(c.subarray(0, m), off);
      off += m;
      if (off === n) break;
    }
    if (consume) this.consume(n);
    return out;
  }

  private consume(n: number): void {
    this.total -= n;
    while (n > 0) {
      const c = this.chunks[0]!;
      if (c.length <= n) {
        this.chunks.shift();
        n -= c.length;
      } else {
        this.chunks[0] = c.subarray(n);
        n = 0;
      }
    }
  }
}
