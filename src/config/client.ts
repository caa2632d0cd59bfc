import { Issues, readVariables, type Env } from './env-reader.ts';
import { pick } from './variables.ts';

/** What the client commands (publish, status, watch, cancel, cost, list) read from the environment. */
export interface ClientConfig {
  /** GOOGLE_CLOUD_PROJECT; unset lets the Google clients find it from the credentials. */
  projectId: string | undefined;
  /** JOBBRIDGE_COLLECTION, default `jobs`. */
  collection: string;
  /** JOBBRIDGE_TOPIC, default `jobbridge-requests`. */
  topic: string;
  /** Set when the official emulators are used. */
  pubsubEmulatorHost: string | undefined;
  firestoreEmulatorHost: string | undefined;
}

const CLIENT_VARIABLES = pick(
  'projectId',
  'collection',
  'topic',
  'pubsubEmulatorHost',
  'firestoreEmulatorHost',
);

/** Reads the client commands' configuration; a ConfigError names every variable at fault. */
export function readClientConfig(env: Env = process.env): ClientConfig {
  const issues = new Issues();
  const v = readVariables(env, CLIENT_VARIABLES, issues);
  issues.throwIfAny();
  return v;
}

/** What `jobbridge ui` reads besides the client config: its defaults for `--port`, `--bridge-url`. */
export interface UiEnv {
  /** PORT, when set (Cloud Run's convention: then listen on all addresses). */
  port: number | undefined;
  bridgeUrl: string | undefined;
}

/** Reads `jobbridge ui`'s own variables; a ConfigError names every variable at fault. */
export function readUiEnv(env: Env = process.env): UiEnv {
  const issues = new Issues();
  const v = readVariables(env, pick('uiPort', 'bridgeUrl'), issues);
  issues.throwIfAny();
  return { port: v.uiPort, bridgeUrl: v.bridgeUrl };
}
