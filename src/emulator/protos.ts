import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import type * as grpc from '@grpc/grpc-js';

/**
 * Loads the Cloud Run v2 and google.longrunning protos shipped inside the client libraries, so
 * that the emulator speaks exactly the wire format the real `@google-cloud/run` clients expect.
 */
const require = createRequire(import.meta.url);

/** The folders the protos load from: the ones shipped inside the client libraries. */
export function protoRoots(): string[] {
  const runPackage = dirname(require.resolve('@google-cloud/run/package.json'));
  // google-gax does not export its package.json: find its root from its main module.
  const gaxMain = require.resolve('google-gax', { paths: [runPackage] });
  const gaxPackage = gaxMain.slice(0, gaxMain.lastIndexOf(`${sep}build${sep}`));
  return [join(runPackage, 'build', 'protos'), join(gaxPackage, 'build', 'protos')];
}

export interface RunProtos {
  jobsService: grpc.ServiceDefinition;
  executionsService: grpc.ServiceDefinition;
  tasksService: grpc.ServiceDefinition;
  operationsService: grpc.ServiceDefinition;
  /** Encodes a google.cloud.run.v2.Execution (camelCase object) to bytes, for Any values. */
  encodeExecution: (execution: object) => Buffer;
}

/** Every proto the emulator serves, for both transports. */
export const protoFiles = [
  'google/cloud/run/v2/job.proto',
  'google/cloud/run/v2/execution.proto',
  'google/cloud/run/v2/task.proto',
  'google/longrunning/operations.proto',
];

export const EXECUTION_TYPE_URL = 'type.googleapis.com/google.cloud.run.v2.Execution';

/** Loads the protos once per call; the result is immutable and may be shared. */
export function loadRunProtos(): RunProtos {
  const definition = protoLoader.loadSync(protoFiles, {
    includeDirs: protoRoots(),
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const service = (name: string): grpc.ServiceDefinition => {
    const found = definition[name];
    if (
      !found ||
      !(
        'GetOperation' in found ||
        'GetJob' in found ||
        'GetExecution' in found ||
        'GetTask' in found
      )
    ) {
      throw new Error(`proto service ${name} is missing from the shipped protos`);
    }
    return found;
  };
  const executionsService = service('google.cloud.run.v2.Executions');
  const getExecution = executionsService.GetExecution;
  if (!getExecution) throw new Error('Executions.GetExecution is missing from the shipped protos');
  return {
    jobsService: service('google.cloud.run.v2.Jobs'),
    executionsService,
    tasksService: service('google.cloud.run.v2.Tasks'),
    operationsService: service('google.longrunning.Operations'),
    // GetExecution's response serializer is exactly the Execution message encoder.
    encodeExecution: (execution) => getExecution.responseSerialize(execution),
  };
}
