import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** pino's levels mapped to Cloud Logging's `severity`. */
const SEVERITY: Record<string, string> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
};

export interface LoggerSettings {
  /** The config's LOG_LEVEL (src/config); `info` when not given. */
  level?: string;
  /** Component name, logged as `component`. */
  name?: string;
  /** Where lines go; stdout by default (Cloud Run ships stdout to Cloud Logging). */
  destination?: DestinationStream;
}

/**
 * A pino logger writing Cloud Logging's structured JSON: `severity`, `message`, `time` as an
 * ISO string. Secrets are redacted by path wherever they might appear.
 */
export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    messageKey: 'message',
    base: settings.name ? { component: settings.name } : {},
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ severity: SEVERITY[label] ?? 'DEFAULT' }),
    },
    redact: {
      paths: [
        'authorization',
        'headers.authorization',
        'req.headers.authorization',
        'env',
        '*.env',
      ],
      censor: '[redacted]',
    },
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}

/** A logger that drops everything (for tests that do not assert on logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
