# syntax=docker/dockerfile:1
# One image for both sides: the service runs `jobbridge serve` (CMD); the Cloud Run job runs
# the same image with its args overridden to `work <function> [args…]`.
# scripts/docker-steps.sh runs these same steps without Docker (test/worker/docker-steps.test.ts).

FROM node:24-slim AS build
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY functions ./functions
COPY scripts/docker-bundle.sh ./scripts/docker-bundle.sh
# tsc emits dist/src and dist/functions (relative .ts imports rewritten to .js, the library's
# exports); esbuild bundles the CLI into dist/bundle/jobbridge.mjs, the entrypoint's program
# (a task's cold start: docs/internals.md, "Cold start").
RUN npx tsc -p tsconfig.build.json && sh scripts/docker-bundle.sh

FROM node:24-slim
ENV NODE_ENV=production \
    NODE_COMPILE_CACHE=/tmp/node-compile-cache
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=optional: the image has its own node, so not the Node.js binary package a checkout uses.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /build/dist ./dist
COPY scripts/docker-entrypoint.sh ./scripts/docker-entrypoint.sh
USER node
ENTRYPOINT ["/app/scripts/docker-entrypoint.sh"]
CMD ["serve"]
