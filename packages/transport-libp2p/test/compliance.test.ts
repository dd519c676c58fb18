import { runTransportCompliance } from '@phalanx/compliance';
import { Libp2pTransport } from '../src/index.js';
import { identities } from './helpers.js';

const maxFrameBytes = 256 * 1024;
const queueLimit = 10_000;

runTransportCompliance(
  'libp2p',
  async (n) => {
    const ids = await identities([...Array.from({ length: n }, (_, i) => `r${i}`), 'outsider']);
    const members = ids.slice(0, n);
    const make = (me: (typeof ids)[number], set: typeof ids): Libp2pTransport =>
      new Libp2pTransport({
        self: me.id,
        seed: me.seed,
        listen: me.addrs,
        validators: set,
        maxFrameBytes,
        queueLimit,
        reconnect: { initialMs: 20, maxMs: 200 },
      });
    const transports = members.map((m) => make(m, members));
    // The outsider believes it is a validator; the members' gaters do not.
    const outsider = make(ids[n]!, ids);
    return {
      transports,
      outsider,
      maxFrameBytes,
      queueLimit,
      close: async () => {
        await Promise.all([...transports, outsider].map((t) => t.stop()));
      },
    };
  },
  { timeoutMs: 10_000 },
);
