/** Run by processes.test.ts: starts a detached child like the multi-process scenarios do, then waits to be signalled. */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess } from '../src/scenarios/processes.js';

const child = startProcess('sleeper', 'sleep', ['300'], { log: join(tmpdir(), `phalanx-signal-fixture-${process.pid}.log`) });
process.stdout.write(`${child.child.pid}\n`);
setInterval(() => undefined, 1_000);
