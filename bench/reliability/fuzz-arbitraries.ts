import fc from 'fast-check';

/** One generated push: the raw body and the headers it is sent with. */
export interface FuzzPush {
  body: string;
  headers: Record<string, string>;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** Strings that tend to break parsers, validators and loggers. */
const nastyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '__proto__',
    'constructor',
    'prototype',
    '\u0000',
    'a\nb',
    'NODE_OPTIONS',
    'JOBBRIDGE_REQUEST_ID',
    '💥'.repeat(300),
    '../../etc/passwd',
    '%00',
    '${jndi:ldap://x}',
  ),
  fc.nat({ max: 70_000 }).map((n) => 'x'.repeat(n)),
);

/** Any JSON-ish value, including wrong types for every field. */
const anyValue = fc.oneof(
  nastyString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(nastyString, { maxLength: 5 }),
  fc.dictionary(nastyString, nastyString, { maxKeys: 5 }),
);

/** Mostly `valid`, sometimes `mutated`: so that most pushes get past the earlier checks. */
function mostly<T, U>(valid: fc.Arbitrary<T>, mutated: fc.Arbitrary<U>): fc.Arbitrary<T | U> {
  return fc.oneof({ weight: 12, arbitrary: valid }, { weight: 1, arbitrary: mutated });
}

const jobName = mostly(
  fc.constant('bridge-job'),
  fc.oneof(
    fc.constantFrom('ghost-job', 'unlisted-job', 'Bridge-Job', 'bridge-job ', ''),
    fc.stringMatching(/^[a-z][-a-z0-9]{0,10}$/),
    anyValue,
  ),
);

const envName = fc.oneof(
  fc.constantFrom(
    'NODE_OPTIONS',
    'node_options',
    'LD_PRELOAD',
    'ld_preload',
    'JOBBRIDGE_REQUEST_ID',
    'jobbridge_jobs',
    'GOOGLE_APPLICATION_CREDENTIALS',
    'CLOUD_RUN_TASK_INDEX',
    'PATH',
    'A=B',
    'A\nB',
    '__proto__',
    'MODE',
  ),
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/),
  nastyString,
);

/** A job request: mostly well-formed fields, each of which may be mutated or dropped. */
const jobRequest = fc.record(
  {
    schemaVersion: mostly(fc.constant(1), anyValue),
    requestId: mostly(fc.uuid(), fc.oneof(nastyString, anyValue)),
    job: jobName,
    function: mostly(fc.constantFrom('simulate', 'export'), anyValue),
    args: mostly(
      fc.array(fc.string({ maxLength: 20 }), { maxLength: 4 }),
      fc.oneof(fc.array(nastyString, { maxLength: 4 }), anyValue),
    ),
    env: mostly(
      fc.dictionary(
        fc
          .stringMatching(/^[A-Z][A-Z0-9_]{0,8}$/)
          .filter(
            (n) => !/^(LD_|NODE_|K_|GOOGLE_|JOBBRIDGE_|CLOUD_RUN_)|^(PATH|PORT|HOME)$/.test(n),
          ),
        fc.string({ maxLength: 20 }),
        { maxKeys: 3 },
      ),
      fc.oneof(fc.dictionary(envName, nastyString, { maxKeys: 4 }), anyValue),
    ),
    // Mutated counts are out of range: a valid 8,000 would only make the in-process emulator spawn
    // 8,000 processes on the bridge's own event loop.
    taskCount: mostly(
      fc.integer({ min: 1, max: 3 }),
      fc.oneof(fc.integer({ min: -5, max: 0 }), fc.integer({ min: 10_001, max: 10_005 }), anyValue),
    ),
    timeoutSeconds: mostly(
      fc.integer({ min: 1, max: 3600 }),
      fc.oneof(fc.integer({ min: -5, max: 700_000 }), anyValue),
    ),
    labels: mostly(
      fc.dictionary(
        fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/),
        fc.stringMatching(/^[a-z0-9_-]{0,8}$/),
        { maxKeys: 3 },
      ),
      fc.oneof(fc.dictionary(nastyString, nastyString, { maxKeys: 3 }), anyValue),
    ),
    // Undefined keys vanish in JSON: mostly absent, sometimes there and wrong.
    concurrencyKey: mostly(fc.constant(undefined), nastyString),
    unknownField: mostly(fc.constant(undefined), anyValue),
  },
  { requiredKeys: [] },
);

/** JSON text with an own `__proto__` key somewhere (JSON.stringify cannot write one). */
const protoJson = fc
  .tuple(fc.constantFrom('', 'env', 'labels'), fc.json())
  .map(([where, inner]) =>
    where === ''
      ? `{"schemaVersion":1,"job":"bridge-job","__proto__":${inner}}`
      : `{"schemaVersion":1,"job":"bridge-job","${where}":{"__proto__":{"polluted":"yes"},"A":${inner}}}`,
  );

/** What goes into `message.data`. */
const data = fc.oneof(
  { weight: 14, arbitrary: jobRequest.map((r) => b64(JSON.stringify(r))) },
  { weight: 2, arbitrary: protoJson.map(b64) },
  { weight: 1, arbitrary: fc.json().map(b64) },
  { weight: 1, arbitrary: fc.string().map(b64) }, // base64 of something that is not JSON
  { weight: 1, arbitrary: fc.base64String() }, // valid base64 of garbage bytes
  { weight: 1, arbitrary: nastyString }, // not base64 at all
  { weight: 1, arbitrary: anyValue },
);

const attributes = fc.oneof(
  { weight: 4, arbitrary: fc.constant({}) },
  { weight: 2, arbitrary: fc.record({ requestId: fc.uuid() }) },
  { weight: 1, arbitrary: fc.record({ requestId: nastyString }) },
  {
    weight: 1,
    arbitrary: fc.dictionary(fc.oneof(fc.constant('requestId'), nastyString), nastyString, {
      maxKeys: 4,
    }),
  },
  { weight: 1, arbitrary: anyValue },
);

const message = fc.record(
  {
    data,
    attributes,
    messageId: mostly(fc.stringMatching(/^[0-9]{1,16}$/), anyValue),
    message_id: fc.stringMatching(/^[0-9]{1,16}$/),
    publishTime: mostly(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      anyValue,
    ),
    orderingKey: mostly(fc.constant(undefined), anyValue),
  },
  { requiredKeys: ['messageId', 'data'] },
);

const envelope = fc.record(
  {
    message: mostly(message, anyValue),
    subscription: mostly(fc.constant('projects/p/subscriptions/s'), anyValue),
    deliveryAttempt: mostly(
      fc.integer({ min: 1, max: 100 }),
      fc.oneof(fc.integer({ min: -2, max: 0 }), anyValue),
    ),
    extra: anyValue,
  },
  { requiredKeys: ['message'] },
);

const body = fc.oneof(
  { weight: 10, arbitrary: envelope.map((e) => JSON.stringify(e)) },
  { weight: 1, arbitrary: envelope.map((e) => JSON.stringify(e).slice(0, -3)) }, // truncated
  {
    weight: 1,
    arbitrary: protoJson.map(
      (j) => `{"message":{"messageId":"1","data":"${b64(j)}"},"__proto__":{"x":1}}`,
    ),
  },
  { weight: 1, arbitrary: fc.json() },
  { weight: 1, arbitrary: fc.string({ unit: 'binary' }) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', '[]', '{}', '{"message":null}') },
);

const token = fc.stringMatching(/^[a-z0-9][a-z0-9.+-]{0,15}$/);

/** Content types that parse as media types (`type/subtype; params`), however odd. */
const wellFormedContentType = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=latin1',
    'text/plain',
    'application/octet-stream',
    'multipart/form-data; boundary=x',
  ),
  fc.tuple(token, token).map(([t, s]) => `${t}/${s}`),
);

/** Content types that are not media types at all (`''`, `json`, `a b`, …). */
const malformedContentType = fc.oneof(
  fc.constantFrom('', ' ', 'json', 'application/', '/json', ';'),
  fc.string({ maxLength: 30 }).filter((s) => /^[\x21-\x7e ]*$/.test(s)),
);

const printable = (maxLength: number) =>
  fc.string({ maxLength }).filter((s) => /^[\x20-\x7e]*$/.test(s));

function headers() {
  return fc.record(
    {
      'content-type': fc.oneof(wellFormedContentType, malformedContentType),
      traceparent: printable(80),
      'x-cloud-trace-context': printable(80),
      'x-goog-pubsub-extra': printable(30),
    },
    { requiredKeys: [] },
  );
}

/**
 * A push: a structure-aware body and mutated headers, Content-Type values that are not media
 * types at all among them (test/bridge/media-type.test.ts pins what they once found).
 */
export function fuzzPush(): fc.Arbitrary<FuzzPush> {
  return fc.record({ body, headers: headers() });
}

/** An `Authorization` header value: empty, malformed, or JWT-shaped garbage. */
export const authorizationHeader: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', 'Bearer', 'Bearer ', 'Basic abc', 'Bearer a.b.c', 'bearer x.y.z'),
  fc
    .tuple(fc.json(), fc.json(), fc.base64String())
    .map(
      ([h, p, s]) =>
        `Bearer ${Buffer.from(h).toString('base64url')}.${Buffer.from(p).toString('base64url')}.${s}`,
    ),
  fc.string({ maxLength: 200 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
);
