#!/bin/sh
# Runs the Dockerfile's build steps without a Docker engine, into OUT_DIR (default: a temp
# folder), and prints the folder: the final stage's layout is OUT_DIR/app, run as the image
# would with OUT_DIR/app/scripts/docker-entrypoint.sh. Keep it in step with the Dockerfile.
set -eu
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT_DIR="${1:-$(mktemp -d)}"
BUILD="$OUT_DIR/build"
APP="$OUT_DIR/app"
mkdir -p "$BUILD" "$APP/scripts"

# Stage "build": sources and the compiler. The dev dependencies are the repo's own (the same
# lockfile), so the copy links them instead of installing them again.
cp "$ROOT/package.json" "$ROOT/package-lock.json" "$ROOT/tsconfig.json" "$ROOT/tsconfig.build.json" "$BUILD/"
cp -R "$ROOT/src" "$ROOT/functions" "$BUILD/"
mkdir -p "$BUILD/scripts" && cp "$ROOT/scripts/docker-bundle.sh" "$BUILD/scripts/"
ln -s "$ROOT/node_modules" "$BUILD/node_modules"
# The image's tsc, without its type check (`npm run typecheck` is that check; type errors never
# stopped this run): the same emitted files, in about half the time.
(cd "$BUILD" && node "$ROOT/node_modules/typescript/bin/tsc" -p tsconfig.build.json --noCheck) >&2
test -f "$BUILD/dist/src/cli.js"
sh "$BUILD/scripts/docker-bundle.sh" >&2

# Final stage: production dependencies only, the compiled output, the entrypoint.
cp "$ROOT/package.json" "$ROOT/package-lock.json" "$APP/"
if ! (cd "$APP" && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error) >&2; then
  # `npm ci` refuses a lockfile out of sync with package.json (the Dockerfile would fail the
  # same way: fix the lockfile with `npm install`). Go on with a production install from it.
  echo "docker-steps: WARNING npm ci failed (lockfile out of sync?); falling back to npm install --omit=dev" >&2
  (cd "$APP" && npm install --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error) >&2
fi
cp -R "$BUILD/dist" "$APP/dist"
cp "$ROOT/scripts/docker-entrypoint.sh" "$APP/scripts/"
echo "$OUT_DIR"
