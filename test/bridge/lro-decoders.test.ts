import { afterAll, describe, expect, it } from 'vitest';
import { createRunClients } from '../../src/launcher/index.ts';

interface ProtoType {
  decode: (bytes: Uint8Array) => { name?: string };
  encode: (message: object) => { finish: () => Uint8Array };
}

describe('Cloud Run clients: LRO decoders reuse the generated codec', () => {
  // Building the clients opens no connection; nothing listens on this port.
  const run = createRunClients({ emulatorHost: '127.0.0.1:9', projectId: 'lro-test' });
  afterAll(() => run.close());

  it('decodes runJob metadata (the Execution) without regenerating the codec per call', () => {
    const decode = run.jobs.descriptors.longrunning.runJob?.metadataDecoder as (
      bytes: Uint8Array,
    ) => { name?: string };
    const empty = decode(new Uint8Array(0));
    const type = (Object.getPrototypeOf(empty) as { $type: ProtoType }).$type;
    const name = 'projects/lro-test/locations/r/jobs/j/executions/j-abc12';
    const bytes = type.encode({ name }).finish();

    const generated = type.decode;
    expect(decode(bytes).name).toBe(name);
    expect(decode(bytes).name).toBe(name);
    // protobufjs's decode_setup would have put a freshly generated decoder on the type each call.
    expect(type.decode).toBe(generated);
  });

  it('does the same for every long-running method of both clients', () => {
    for (const client of [run.jobs, run.executions]) {
      const methods = Object.entries(client.descriptors.longrunning);
      expect(methods.length).toBeGreaterThan(0);
      for (const [method, descriptor] of methods) {
        for (const decode of [descriptor.metadataDecoder, descriptor.responseDecoder]) {
          const message = (decode as (bytes: Uint8Array) => object)(new Uint8Array(0));
          const type = (Object.getPrototypeOf(message) as { $type: ProtoType }).$type;
          const before = type.decode;
          (decode as (bytes: Uint8Array) => object)(new Uint8Array(0));
          expect(type.decode, method).toBe(before);
        }
      }
    }
  });
});
