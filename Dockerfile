# syntax=docker/dockerfile:1
#
# relevance-gateway container image. Build from the repository root:
#
#   docker build -t relevance-gateway:0.1.0 .
#
# Three stages:
#   build      all dependencies, `tsc` → dist/
#   prod-deps  production dependencies only (`npm ci --omit=dev`)
#   runtime    node:24-slim with dist/, bin/, proto/, package.json and the production node_modules;
#              no sources, no dev dependencies, no npm cache; runs as the image's non-root `node` user.
#
# Signals: the ENTRYPOINT is exec form, so `node` is PID 1 and receives SIGTERM itself (no shell in
# between to swallow it). The gateway installs its own SIGTERM/SIGINT handlers (drain for
# server.shutdownGraceMs, then exit 0) and a SIGHUP handler (reload the config file), which is what a
# PID 1 needs: the kernel gives PID 1 no default signal actions. It starts no child processes, so there
# are no zombies to reap and no init (tini) is needed; `docker run --init` adds one if you want it
# anyway. Tests validate this file (test/deploy/dockerfile.test.ts); no Docker engine is needed for that.

ARG NODE_IMAGE=node:24-slim

# ---- build: compile TypeScript with the full (dev) dependency set ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY src ./src
RUN npm run build

# ---- prod-deps: production dependencies only, from the same lock file ----
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts are needed at run time (the only one, protobufjs's, checks its CLI's extras).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Root-owned and read-only for the gateway's user: it never writes below /app.
COPY --from=prod-deps /app/node_modules ./node_modules
# package.json is needed at run time: "type": "module" and the version the gateway reports.
COPY package.json ./
COPY bin ./bin
COPY proto ./proto
COPY --from=build /app/dist ./dist
# The image's `node` user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
# gRPC (RelevanceService, grpc.health.v1, reflection) and the admin HTTP port (/metrics, /healthz,
# /readyz, /admin/...), as in the default config; never publish the admin port to clients.
EXPOSE 50051 8080
# For docker and compose; Kubernetes ignores HEALTHCHECK and uses the Deployment's probes. It checks the
# admin port's /healthz at the default port 8080: override it if server.admin.port differs.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/relevance-gateway.js"]
# Mount the config file (a ConfigMap, or a bind mount in compose) at this path, or pass other arguments.
CMD ["serve", "--config", "/etc/relevance-gateway/gateway.yaml"]
