import type { Logger } from '../log.ts';

/** The part of `process` signal handling uses (tests hand in an EventEmitter). */
export interface SignalSource {
  on(event: NodeJS.Signals, listener: () => void): unknown;
  off(event: NodeJS.Signals, listener: () => void): unknown;
}

/**
 * SIGTERM (Cloud Run's timeout or cancel; SIGINT locally) calls `onTerminate` once. SIGTSTP and
 * SIGCONT are Cloud Run's maintenance migration: the task is paused and resumed, so they are
 * logged and must not end it (a handler also stops SIGTSTP's default "stop the process").
 * Returns a function that removes the handlers.
 */
export function installSignalHandlers(
  source: SignalSource,
  log: Logger,
  onTerminate: (signal: string) => void,
): () => void {
  let fired = false;
  const terminate = (signal: NodeJS.Signals) => () => {
    if (fired) return;
    fired = true;
    log.warn({ signal }, 'termination signal: aborting the function, then recording the attempt');
    onTerminate(signal);
  };
  const handlers: [NodeJS.Signals, () => void][] = [
    ['SIGTERM', terminate('SIGTERM')],
    ['SIGINT', terminate('SIGINT')],
    ['SIGTSTP', () => log.info({ signal: 'SIGTSTP' }, 'paused for maintenance; the task goes on')],
    ['SIGCONT', () => log.info({ signal: 'SIGCONT' }, 'resumed after maintenance')],
  ];
  for (const [signal, handler] of handlers) source.on(signal, handler);
  return () => {
    for (const [signal, handler] of handlers) source.off(signal, handler);
  };
}
