/**
 * CRC32C (Castagnoli), the checksum on every stored record. Chosen over CRC32 for its better
 * error detection on storage media (it is what ext4, iSCSI and LevelDB use). Node 20 has no
 * built-in, and a 1 KiB table keeps it dependency-free; records are small, so speed is ample.
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** Continues a CRC32C over `data` (pass the previous result to chain several buffers). */
export function crc32c(data: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) crc = TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
