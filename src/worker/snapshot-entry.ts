/**
 * Entry of the worker's V8 startup snapshot (`src/worker/snapshot-build.ts`): bundled by esbuild
 * into one CommonJS file, run once by `node --build-snapshot`, which evaluates every module of
 * the `work` path (pino, commander, @google-cloud/firestore, google-gax, protobufjs…) and saves
 * the heap. A task then starts with `node --snapshot-blob worker.blob work <fn> …`: the modules
 * are already loaded, so their evaluation is not paid again by every task (docs/internals.md, "Cold
 * start").
 *
 * Only what runs at module load is captured: no socket, timer or other handle is opened here
 * (the snapshot forbids them) and no env value is read (config is read when the task starts).
 * google-gax is a dependency of @google-cloud/firestore, imported here only to pre-load it.
 */
import { startupSnapshot } from 'node:v8';
import { Command, CommanderError } from 'commander';
import * as firestoreModule from '@google-cloud/firestore';
import * as gaxFallback from 'google-gax/fallback';
import '../log.ts';
import '../config/worker.ts';
import './heap.ts';
import './reexec.ts';
import './firestore-client.ts';
import './run-task.ts';
import '../../functions/index.ts';
import { register } from '../cli/work.ts';
import { errorMessage } from '../errors/coerce.ts';

// @google-cloud/firestore requires its GAPIC layer (the v1 getter, @google-cloud/firestore-api
// with its 2 MB protobuf module) and google-gax's REST fallback only on the first request:
// touch both here so that they are evaluated into the snapshot too.
// A throwaway REST client also leaves its protobuf root (built from a JSON descriptor, ≈ 25 ms)
// in google-gax's cache, which the task's own client then reuses. It opens nothing.
const { v1 } = firestoreModule as unknown as {
  v1: { FirestoreClient: new (settings: object, gax: unknown) => unknown };
};
new v1.FirestoreClient({ fallback: 'rest', projectId: 'snapshot' }, gaxFallback);

async function main(argv: string[]): Promise<number> {
  const program = new Command('jobbridge').exitOverride();
  register(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err: unknown) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    process.stderr.write(`jobbridge: ${errorMessage(err)}\n`);
    return 1;
  }
}

startupSnapshot.setDeserializeMainFunction(() => {
  // Started from the blob, process.argv is [node, ...the user's arguments] (no script path).
  void main(process.argv.slice(1)).then((code) => {
    process.exitCode = code;
  });
});
