#!/bin/sh
# The image's ENTRYPOINT. It runs the esbuild bundle of the CLI (scripts/docker-bundle.sh), which
# starts faster than the tsc output in dist/src (docs/internals.md, "Cold start"). The heap is
# sized in one place, by `jobbridge work` itself from the container's cgroup limit
# (src/worker/heap.ts; docs/internals.md, "Heap").
set -e
APP_DIR="${APP_DIR:-$(dirname "$0")/..}"
exec node "$APP_DIR/dist/bundle/jobbridge.mjs" "$@"
