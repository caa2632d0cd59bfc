import { buildUiServer, type UiServerDeps } from './server.ts';

export { buildUiServer, type UiServer, type UiServerDeps, type UiStats } from './server.ts';
export type { JobCost } from './job-view.ts';
export type { Publish, PublishRequest } from './publish-form.ts';

/** A listening dashboard. */
export interface StartedUi {
  /** `http://host:port`, the jobs page. */
  readonly url: string;
  readonly port: number;
  /** Ends the pages' event streams, stops the listeners, closes the server. */
  close(): Promise<void>;
}

/** Builds the dashboard and listens on `host:port` (0: a free port). */
export async function startUi(
  deps: UiServerDeps & { port: number; host: string },
): Promise<StartedUi> {
  const app = buildUiServer(deps);
  await app.listen({ port: deps.port, host: deps.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : deps.port;
  const shown = deps.host === '0.0.0.0' || deps.host === '::' ? '127.0.0.1' : deps.host;
  return { url: `http://${shown}:${port}`, port, close: () => app.close() };
}
