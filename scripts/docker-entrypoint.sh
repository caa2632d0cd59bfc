#!/bin/sh
# The image's ENTRYPOINT. Sizes the V8 heap from the container's memory (the seed's
# out-of-memory lesson) unless the user chose a heap flag in NODE_OPTIONS.
# JOBBRIDGE_HEAP_PERCENTAGE (default 75) changes the share. It runs the esbuild bundle of the CLI
# (scripts/docker-bundle.sh), which starts faster than the tsc output in dist/src
# (docs/internals.md, "Cold start").
set -e
APP_DIR="${APP_DIR:-$(dirname "$0")/..}"
set -- "$APP_DIR/dist/bundle/jobbridge.mjs" "$@"
case " ${NODE_OPTIONS:-} " in
  *--max-old-space-size*|*--max-heap-size*)
    exec node "$@" ;;
  *)
    exec node "--max-old-space-size-percentage=${JOBBRIDGE_HEAP_PERCENTAGE:-75}" "$@" ;;
esac
