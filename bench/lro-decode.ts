/**
 * What decoding a RunJob answer costs the client (`npm run bench:lro`). `@google-cloud/run` builds
 * its LRO decoders with `type.decode.bind(type)`, which binds protobufjs's `decode_setup`: each
 * call regenerates the type's codec before decoding. This decodes one RunJob answer's metadata
 * (the `Execution`, as the Cloud Run Jobs emulator returns it) through the client's own decoder,
 * next to the type's generated decoder called directly (what a patch of the descriptors would
 * give), alternating the two in rounds of one run. The client decodes it once per RunJob call.
 * Last line: one JSON object with the figures.
 */
import * as grpc from '@grpc/grpc-js';
import { JobsClient } from '@google-cloud/run';
import { startRunEmulator } from '../src/emulator/index.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const PER_ROUND = Number(process.env.BENCH_DECODES ?? 500);
/** Cloud Run's highest default RunJob quota per region (calls a minute). */
const QUOTA_PER_MINUTE = 180;

type Decode = (bytes: Uint8Array) => unknown;
interface ProtoType {
  encode: (message: unknown) => { finish: () => Uint8Array };
  decode: Decode;
}

const emulator = await startRunEmulator({
  jobs: { jobs: { bench: { command: ['/bin/true'] } } },
  log: () => undefined,
});
const [host, port] = emulator.host.split(':');
const shipped = new JobsClient({
  apiEndpoint: host,
  port: Number(port),
  sslCreds: grpc.credentials.createInsecure(),
  projectId: 'bench',
  universeDomain: 'googleapis.com',
});
try {
  const [operation] = await shipped.runJob({ name: 'projects/bench/locations/local/jobs/bench' });
  const decodeShipped = shipped.descriptors.longrunning.runJob?.metadataDecoder as Decode;
  const type = (Object.getPrototypeOf(decodeShipped(new Uint8Array(0))) as { $type: ProtoType })
    .$type;
  const bytes = type.encode(operation.metadata).finish();
  // After one decode, protobufjs has put the generated decoder on the type itself.
  const generated = type.decode.bind(type);
  const decodeOurs: Decode = (b) => generated(b);

  const cpuUs = (decode: Decode): number => {
    const before = process.cpuUsage();
    for (let i = 0; i < PER_ROUND; i++) decode(bytes);
    const used = process.cpuUsage(before);
    return (used.user + used.system) / PER_ROUND;
  };
  // Warm both (the shipped one regenerates its codec on every call: there is nothing to warm).
  cpuUs(decodeShipped);
  cpuUs(decodeOurs);
  const shippedUs: number[] = [];
  const oursUs: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    shippedUs.push(cpuUs(decodeShipped));
    oursUs.push(cpuUs(decodeOurs));
  }
  const median = (values: number[]): number =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
  const shippedMedian = median(shippedUs);
  const oursMedian = median(oursUs);
  const savedMsPerMinute = ((shippedMedian - oursMedian) * QUOTA_PER_MINUTE) / 1000;
  console.log(
    `RunJob metadata (${bytes.length} bytes): shipped decoder ${shippedMedian.toFixed(1)} µs CPU, ` +
      `generated decoder called directly ${oursMedian.toFixed(1)} µs; at ${QUOTA_PER_MINUTE} ` +
      `RunJob/min the difference is ${savedMsPerMinute.toFixed(1)} ms of CPU a minute`,
  );
  console.log(
    JSON.stringify({
      bench: 'lro-decode',
      metadataBytes: bytes.length,
      rounds: ROUNDS,
      decodesPerRound: PER_ROUND,
      shippedDecodeCpuUs: Math.round(shippedMedian * 10) / 10,
      generatedDecodeCpuUs: Math.round(oursMedian * 10) / 10,
      shippedOverGenerated: Math.round((shippedMedian / oursMedian) * 10) / 10,
      extraCpuMsPerMinuteAtQuota: Math.round(savedMsPerMinute * 10) / 10,
    }),
  );
} finally {
  await shipped.close();
  await emulator.stop();
}
