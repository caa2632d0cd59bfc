#!/bin/sh
# The image's ENTRYPOINT. Sizes the V8 heap from the container's memory (the seed's
# out-of-memory lesson) unless the user chose a heap flag in NODE_OPTIONS.
# JOBBRIDGE_HEAP_PERCENTAGE (default 75) changes the share.
set -e
APP_DIR="${APP_DIR:-$(dirname "$0")/..}"
case " ${NODE_OPTIONS:-} " in
  *--max-old-space-size*|*--max-heap-size*)
    exec node "$APP_DIR/dist/src/cli.js" "$@" ;;
  *)
    exec node "--max-old-space-size-percentage=${JOBBRIDGE_HEAP_PERCENTAGE:-75}" "$APP_DIR/dist/src/cli.js" "$@" ;;
esac
