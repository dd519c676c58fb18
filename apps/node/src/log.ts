/**
 * Structured JSON logs with pino; `pretty` switches to a human-readable single line per event
 * (pino-pretty as a synchronous stream, so nothing is lost when the process exits).
 */
import pino from 'pino';
import pretty from 'pino-pretty';
import type { Logger } from '@phalanx/interface';

export function createLogger(opts: { level: string; pretty: boolean; name: string; destination?: NodeJS.WritableStream }): Logger & pino.Logger {
  const stream = opts.pretty
    ? pretty({ colorize: process.stderr.isTTY === true, sync: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', destination: opts.destination ?? process.stderr })
    : (opts.destination ?? pino.destination({ dest: 2, sync: true }));
  return pino({ name: opts.name, level: opts.level, base: undefined }, stream);
}
