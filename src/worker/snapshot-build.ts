/**
 * Builds the worker's V8 startup snapshot (run by scripts/docker-bundle.sh:
 * `node src/worker/snapshot-build.ts OUT_DIR`). esbuild bundles `snapshot-entry.ts` into one
 * CommonJS file, OUT_DIR/worker.cjs (a snapshot entry must be a single script that requires
 * built-in modules only), with node:http, https, tls and http2 replaced by lazy stand-ins
 * (`snapshot-lazy-builtin.ts`); then `node --build-snapshot` evaluates it and writes
 * OUT_DIR/worker.blob, which scripts/docker-entrypoint.sh starts `work` from. A blob only runs
 * on the node binary that built it: the Dockerfile builds it again with the final image's node.
 */
import { execFileSync } from 'node:child_process';
import { constants as http2Constants } from 'node:http2';
import { join } from 'node:path';

const LAZY = /^(node:)?(http|https|tls|http2)$/;

async function main(outDir: string | undefined): Promise<void> {
  if (!outDir) throw new Error('usage: node src/worker/snapshot-build.ts OUT_DIR');
  const { build } = await import('esbuild');
  const script = join(outDir, 'worker.cjs');
  const shim = join(import.meta.dirname, 'snapshot-lazy-builtin.ts');
  await build({
    entryPoints: [join(import.meta.dirname, 'snapshot-entry.ts')],
    outfile: script,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [
      {
        name: 'lazy-network-builtins',
        setup(b) {
          b.onResolve({ filter: LAZY }, (a) => ({
            path: a.path.replace(/^node:/, ''),
            namespace: 'lazy-builtin',
          }));
          b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (a) => {
            const known = a.path === 'http2' ? { constants: http2Constants } : {};
            return {
              contents: `module.exports = require(${JSON.stringify(shim)}).lazyBuiltin(${JSON.stringify(a.path)}, ${JSON.stringify(known)});`,
              loader: 'js',
              resolveDir: import.meta.dirname,
            };
          });
        },
      },
    ],
  });
  // --no-warnings: Node warns that `module`, child_process and worker_threads are "not yet
  // fully verified" in snapshots; the worker's tests run from this blob.
  execFileSync(
    process.execPath,
    ['--no-warnings', '--snapshot-blob', join(outDir, 'worker.blob'), '--build-snapshot', script],
    { stdio: 'inherit' },
  );
}

await main(process.argv[2]);
