export * from './bridge.ts';
export * from './client.ts';
export { ConfigError, type ConfigIssue, type Env } from './env-reader.ts';
export * from './reconciler.ts';
export { DEFAULT_TOPIC, LOG_LEVELS, VARIABLES, type LogLevel } from './variables.ts';
export * from './worker.ts';
