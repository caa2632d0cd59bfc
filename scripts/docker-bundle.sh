#!/bin/sh
# Bundles the CLI with esbuild into dist/bundle/jobbridge.mjs (+ chunks beside it): the image's
# entrypoint runs it, so a task's cold start reads a few files instead of resolving hundreds of
# modules in node_modules (docs/internals.md, "Cold start"). Code splitting keeps each subcommand's
# dependencies in its own chunks: `work` loads Firestore's, not the bridge's (Pub/Sub, Cloud Run,
# fastify); one 16 MB file cost more to read and compile than the resolution it saved.
# `node src/cli.ts` keeps working for development; this is the production entrypoint.
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT_DIR="${1:-$ROOT/dist/bundle}"
rm -rf "$OUT_DIR"
# CommonJS dependencies bundled into ES modules still expect require, __filename, __dirname.
BANNER="import{createRequire as __jbRequire}from'node:module';import{fileURLToPath as __jbPath}from'node:url';const require=__jbRequire(import.meta.url);const __filename=__jbPath(import.meta.url);const __dirname=import.meta.dirname;"
"$ROOT/node_modules/.bin/esbuild" "$ROOT/src/cli.ts" \
  --bundle --splitting --platform=node --format=esm --target=node24 \
  --define:import.meta.main=true \
  --banner:js="$BANNER" \
  --minify-whitespace --minify-syntax --sourcemap \
  --legal-comments=none --log-level=warning \
  --entry-names=jobbridge --chunk-names=chunk-[hash] --out-extension:.js=.mjs \
  --outdir="$OUT_DIR"
test -f "$OUT_DIR/jobbridge.mjs"
# The dashboard's script and stylesheet (jobbridge ui serves them from dist/ui/).
node "$ROOT/src/ui/build-assets.ts" "$OUT_DIR/../ui"
test -f "$OUT_DIR/../ui/app.js"
