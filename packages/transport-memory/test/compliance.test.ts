import { runTransportCompliance } from '@phalanx/compliance';
import { MemoryHub } from '../src/index.js';

runTransportCompliance('memory', async (n) => {
  const hub = new MemoryHub({ maxFrameBytes: 64 * 1024, queueLimit: 4_000 });
  const ids = Array.from({ length: n }, (_, i) => `r${i}`);
  const transports = ids.map((id) => hub.transport(id, { peers: ids }));
  // The outsider sits on the same hub but is in nobody's validator set.
  const outsider = hub.transport('outsider', { peers: [...ids, 'outsider'] });
  return {
    transports,
    outsider,
    maxFrameBytes: hub.maxFrameBytes,
    queueLimit: hub.queueLimit,
    close: async () => {
      await Promise.all([...transports, outsider].map((t) => t.stop()));
    },
  };
});
