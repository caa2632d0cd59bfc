import type { FastifyReply, FastifyRequest } from 'fastify';

/** One open server-sent-events stream to a page. */
export interface EventStream {
  send(event: string, data: unknown): void;
  /** Resolves when the page went away (or the server closed the stream). */
  readonly closed: Promise<void>;
  close(): void;
}

/** Keeps proxies (and Cloud Run's front end) from closing an idle stream. */
const HEARTBEAT_MS = 25_000;

/**
 * Turns a request into an event stream: the reply is taken over from fastify and written as
 * `text/event-stream` until the page goes away. `streams` tracks every open one so the server
 * can end them when it closes (an open stream would otherwise hold `close()` forever).
 */
export function openEventStream(
  req: FastifyRequest,
  reply: FastifyReply,
  streams: Set<EventStream>,
): EventStream {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  // Reconnect after 2 s when the connection drops (the browser's EventSource does it by itself).
  res.write('retry: 2000\n\n');
  let ended = false;
  let onClosed!: () => void;
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const stream: EventStream = {
    send: (event, data) => {
      if (!ended) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    closed,
    close: () => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      streams.delete(stream);
      res.end();
      onClosed();
    },
  };
  streams.add(stream);
  req.raw.once('close', () => stream.close());
  return stream;
}
