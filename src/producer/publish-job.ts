import type { PubSub, Topic } from '@google-cloud/pubsub';
import { LIMITS, parseJobRequest, ValidationError, type JobRequest } from '../contract/index.ts';
import { uuidv7 } from './request-id.ts';

/** A job request as a producer writes it: `schemaVersion` and `requestId` may be left out. */
export type JobRequestInput = Omit<JobRequest, 'schemaVersion' | 'requestId'> & {
  schemaVersion?: JobRequest['schemaVersion'];
  /** The idempotency key: publishing twice with the same id runs the job once. Default: a UUIDv7. */
  requestId?: string;
};

/**
 * Checks of functions' declared args, by function name: each returns why the args are refused,
 * or undefined. A request naming a function listed here is checked before it is published.
 */
export type FunctionArgsChecks = Readonly<
  Record<string, (args: readonly string[]) => string | undefined>
>;

export interface PublishOptions {
  /** The declared args of known functions (see `argsChecks` in `jobbridge/worker`). */
  functionArgs?: FunctionArgsChecks;
}

/** What `publishJob` returns: the id to watch the job by, and Pub/Sub's message id. */
export interface PublishedJob {
  requestId: string;
  messageId: string;
}

/** Pub/Sub attribute values are limited to 1024 bytes; longer request ids travel in the body only. */
const ATTRIBUTE_VALUE_MAX_BYTES = 1024;

/**
 * Topics by client and name. `pubsub.topic(name)` makes a new Topic, with its own batcher, on
 * every call; reusing one per name is what lets concurrent publishes share batches.
 */
const topics = new WeakMap<PubSub, Map<string, Topic>>();

function topicFor(pubsub: PubSub, topic: string | Topic): Topic {
  if (typeof topic !== 'string') return topic;
  let byName = topics.get(pubsub);
  if (!byName) {
    byName = new Map();
    topics.set(pubsub, byName);
  }
  let found = byName.get(topic);
  if (!found) {
    found = pubsub.topic(topic);
    byName.set(topic, found);
  }
  return found;
}

/**
 * Validates a job request with the bridge's own contract and publishes it.
 *
 * The request is refused before anything is sent when it is invalid: a `ValidationError` names
 * each field and the reason. The `requestId` attribute carries the caller's idempotency key, or a
 * fresh UUIDv7; the bridge runs at most one execution per request id. Publishes go through the
 * client's batching (a topic name reuses one Topic per client), so many concurrent calls share
 * requests to Pub/Sub.
 *
 * @param pubsub a client (pointed at the emulator in tests and locally)
 * @param topic a topic name or a Topic (pass a Topic to choose its batching options)
 * @param request the job request; `schemaVersion` defaults to 1
 * @param options `functionArgs`: a request for a function listed there is also checked against
 *   the function's declared args (a `ValidationError` on `args`, nothing published)
 * @returns the request id and the Pub/Sub message id
 */
export async function publishJob(
  pubsub: PubSub,
  topic: string | Topic,
  request: JobRequestInput,
  options: PublishOptions = {},
): Promise<PublishedJob> {
  const requestId = request.requestId ?? uuidv7();
  const parsed = parseJobRequest({
    ...request,
    schemaVersion: request.schemaVersion ?? 1,
    requestId,
  });
  if (!parsed.ok) throw parsed.error;
  const body = parsed.value;
  const check =
    body.function !== undefined &&
    options.functionArgs &&
    Object.hasOwn(options.functionArgs, body.function)
      ? options.functionArgs[body.function]
      : undefined;
  const problem = check?.(body.args ?? []);
  if (problem !== undefined)
    throw new ValidationError('job request', [
      { path: 'args', reason: `function ${body.function}: ${problem}` },
    ]);
  const attributes: Record<string, string> = {
    schemaVersion: String(LIMITS.schemaVersion),
    job: body.job,
  };
  if (Buffer.byteLength(requestId, 'utf8') <= ATTRIBUTE_VALUE_MAX_BYTES)
    attributes.requestId = requestId;
  const messageId = await topicFor(pubsub, topic).publishMessage({
    data: Buffer.from(JSON.stringify(body)),
    attributes,
  });
  return { requestId, messageId };
}
