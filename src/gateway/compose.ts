import { randomUUID } from "node:crypto";
import { createAdminServer, listen } from "../admin/server.js";
import { bindServer, createGrpcServer } from "../api/server.js";
import type { BackendClient } from "../backends/backend-client.js";
import { createBackend } from "../backends/create-backend.js";
import { ConfigError, type GatewayConfig, resolveAdminToken, watchConfigFile } from "../config/index.js";
import { createModelText } from "../model-text/index.js";
import { createLogger, type Logger } from "../observability/logger.js";
import { createMetrics, type GatewayMetrics, shadowMetrics } from "../observability/metrics.js";
import { securityMetrics } from "../observability/security-metrics.js";
import { registerTraceMetrics } from "../observability/trace-metrics.js";
import { createPipeline, type Pipeline } from "../pipeline.js";
import { createRouter, type ModelRoleName, type Router } from "../routing/router.js";
import { createHttpsServerTls } from "../security/https-tls.js";
import { createLiveAuthenticator, type LiveAuthenticator } from "../security/live-authenticator.js";
import { createServerCredentials } from "../security/tls.js";
import { createComparisonLog } from "../shadow/comparison-log.js";
import { createShadowSender, type ShadowSender } from "../shadow/shadow-sender.js";
import { createTracing } from "../tracing/tracing.js";
import { type Clock, systemClock } from "../util/clock.js";
import { VERSION } from "../version.js";
import { type ConfigControl, createConfigControl } from "./control.js";
import { createLane, type Lane } from "./lane.js";
import { createLifecycle, type Servers } from "./lifecycle.js";

/** What `createGateway` builds; tests replace parts through `overrides`. */
export interface GatewayDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** Backend clients by config name; default: built from the config. */
  readonly backends: ReadonlyMap<string, BackendClient>;
  readonly newRequestId: () => string;
  /** The admin API's token, read at each write; default: RELEVANCE_GATEWAY_ADMIN_TOKEN or server.admin.tokenFile. */
  readonly adminToken: () => string | undefined;
  /** The config file, for reloads (SIGHUP, file watch, POST /admin/reload); default: none. */
  readonly configFile: string | undefined;
}

export interface Gateway extends AsyncDisposable {
  readonly pipeline: Pipeline;
  readonly metrics: GatewayMetrics;
  /** The config in force and the one way to change it (admin API, SIGHUP, file watch). */
  readonly control: ConfigControl;
  /** Starts the backends' readiness probes, then listens; resolves with the bound ports. */
  start(): Promise<{ grpcPort: number; adminPort: number }>;
  isReady(): boolean;
  /**
   * Graceful stop: health turns NOT_SERVING, new calls are refused, queued and
   * in-flight batches drain for up to `server.shutdownGraceMs`, what remains
   * is answered UNAVAILABLE, then listeners and backends close.
   */
  shutdown(): Promise<void>;
}

/** The router for `cfg.routing`, rebuilt by `reconfigure` on a live routing change; read once per request. */
export function createLiveRouter(
  cfg: GatewayConfig,
  roles: ReadonlyMap<string, ModelRoleName>,
): Router & { reconfigure(next: GatewayConfig): void } {
  const build = (c: GatewayConfig) =>
    createRouter({
      defaultBackend: c.routing.default,
      canary: c.routing.canary,
      experiments: c.routing.experiments,
      allowForcedTeacher: c.routing.allowForcedTeacher,
      roles,
    });
  let router = build(cfg);
  return {
    route: (input) => router.route(input),
    reconfigure(next) {
      router = build(next);
    },
  };
}

/** The gateway's authenticator for `cfg.auth`; a key file that cannot be read is a ConfigError naming it. */
export function buildAuthenticator(
  cfg: GatewayConfig,
  deps: { clock: Clock; registry: GatewayMetrics["registry"] },
): LiveAuthenticator {
  try {
    return createLiveAuthenticator(cfg.auth, { clock: deps.clock, metrics: securityMetrics(deps.registry) });
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err), { cause: err });
  }
}

/**
 * The shadow path, when `routing.shadow` is set: a lane of its own to the
 * teacher and the sender that samples student-answered requests into it.
 */
function createShadow(
  cfg: GatewayConfig,
  clients: ReadonlyMap<string, BackendClient>,
  env: { clock: Clock; logger: Logger; metrics: GatewayMetrics },
): { lane: Lane; sender: ShadowSender } | undefined {
  // Built whenever routing.shadow is set, even at 0%, so its percent can be raised live.
  const s = cfg.routing.shadow;
  if (!s) return undefined;
  const client = clients.get(s.backend);
  if (!client || !cfg.backends[s.backend]) return undefined;
  const lane = createLane(cfg, { kind: "shadow", backend: s.backend, client, ...env });
  const logCfg = cfg.comparisonLog;
  const comparisonLog =
    logCfg.dir === null
      ? undefined
      : createComparisonLog({
          dir: logCfg.dir,
          maxFileBytes: logCfg.maxFileBytes,
          maxFiles: logCfg.maxFiles,
          maxQueuedRecords: logCfg.maxQueuedRecords,
          logger: env.logger,
          onDrop: (reason) => env.metrics.comparisonLogDropped.labels(reason).inc(),
          onWrite: () => env.metrics.comparisonLogWritten.inc(),
        });
  const sender = createShadowSender({
    backend: s.backend,
    percent: s.percent,
    salt: s.salt,
    topK: s.topK,
    noiseFloorPercent: s.noiseFloorPercent,
    timeoutMs: s.timeoutMs,
    batcher: lane.batcher,
    clock: env.clock,
    logger: env.logger,
    observer: shadowMetrics(env.metrics),
    log: comparisonLog,
    logSampleRate: logCfg.sampleRate,
    redactText: logCfg.redactText,
  });
  return { lane, sender };
}

/**
 * The composition root: the one place that reads the config and builds what
 * the gateway is made of — lanes, router, authenticator, pipeline, control
 * plane and listeners — then hands them to the lifecycle.
 */
export function createGateway(cfg: GatewayConfig, overrides: Partial<GatewayDeps> = {}): Gateway {
  const clock = overrides.clock ?? systemClock;
  const logger = overrides.logger ?? createLogger(cfg.logging.level);
  const metrics = overrides.metrics ?? createMetrics({ collectDefault: cfg.metrics.collectDefault });
  metrics.buildInfo.labels(VERSION, process.version).set(1);
  const log = logger.child({ component: "gateway" });
  // Off (the default): no SDK is loaded; a client's trace context is only passed on.
  const tracing = createTracing(cfg.tracing, { logger, clock });
  registerTraceMetrics(metrics.registry, () => tracing.stats());

  const roles = new Map<string, ModelRoleName>(
    Object.entries(cfg.backends).map(([name, b]) => [name, b.role]),
  );
  const clients =
    overrides.backends ??
    new Map(
      Object.entries(cfg.backends).map(([name, b]) => [name, createBackend(name, b, { clock, logger })]),
    );

  // Every endpoint behind a circuit breaker and outlier detection; every batch within a retry budget.
  const lanes = new Map<string, Lane>();
  for (const [name, client] of clients) {
    if (!cfg.backends[name]) continue;
    lanes.set(name, createLane(cfg, { kind: "primary", backend: name, client, clock, logger, metrics }));
  }
  const shadow = createShadow(cfg, clients, { clock, logger, metrics });

  const router = createLiveRouter(cfg, roles);
  const pipeline = createPipeline({
    shadow: shadow?.sender,
    limits: cfg.limits,
    modelText: createModelText(cfg.modelText),
    router,
    scorers: new Map([...lanes].map(([name, lane]) => [name, lane.scorer])),
    roles,
    isAvailable: (name) => lanes.get(name)?.backend.available() ?? false,
    clock,
    metrics,
    logger,
    newRequestId: overrides.newRequestId ?? randomUUID,
    tracing,
  });

  // Client identities and policies (auth); key files are read now, so an unreadable one fails the start.
  const auth = buildAuthenticator(cfg, { clock, registry: metrics.registry });

  const control = createConfigControl({
    initial: cfg,
    auth,
    lanes,
    shadow,
    router,
    metrics,
    logger,
    configFile: overrides.configFile,
    adminToken: overrides.adminToken ?? (() => resolveAdminToken(cfg.server.admin.tokenFile)),
    // A live change of routing.default moves readiness and health at once, not at the next poll.
    onApplied: () => lifecycle.refreshReadiness(),
  });
  // A token that cannot be read fails the start, not the first admin write.
  control.writesEnabled();

  const { grpc: grpcCfg, admin: adminCfg } = cfg.server;
  const servers: Servers = {
    prepare() {
      const serverCredentials = createServerCredentials(grpcCfg.tls, logger);
      const adminTls = adminCfg.tls === null ? undefined : createHttpsServerTls(adminCfg.tls, logger);
      return {
        async listenGrpc() {
          const server = createGrpcServer(pipeline, clock, grpcCfg, auth);
          // With TLS, the certificate files are watched while the listener is open (closed by shutdown).
          const port = await bindServer(
            server.server,
            grpcCfg.host,
            grpcCfg.port,
            serverCredentials.credentials,
          );
          return { server, port };
        },
        async listenAdmin(notReadyReasons) {
          // With TLS, the certificate files are watched while the listener is open (closed by shutdown).
          const server = createAdminServer(metrics.registry, { notReadyReasons, control }, logger, adminTls);
          return { server, port: await listen(server, adminCfg.host, adminCfg.port) };
        },
        describe: (grpcPort, adminPort) => ({
          grpc: `${grpcCfg.host}:${grpcPort}`,
          transport: serverCredentials.mode,
          certificate: serverCredentials.certificate(),
          admin: `${adminCfg.host}:${adminPort}`,
          adminTransport: adminTls?.mode ?? "plaintext",
          adminCertificate: adminTls?.certificate(),
          version: VERSION,
        }),
      };
    },
  };

  const file = overrides.configFile;
  const lifecycle = createLifecycle({
    clock,
    logger,
    metrics,
    lanes,
    shadow,
    tracing,
    servers,
    // The default in force: routing.default changes live (admin API, reload).
    defaultBackend: () => control.current().routing.default,
    shutdownGraceMs: cfg.server.shutdownGraceMs,
    watchConfig:
      file === undefined || !cfg.server.reload.watchFile
        ? undefined
        : () =>
            watchConfigFile(file, {
              debounceMs: cfg.server.reload.debounceMs,
              onChange: () => {
                log.info({ file }, "config file changed: reloading");
                control.reloadFile();
              },
              onError: (err) => log.warn({ err, file }, "cannot watch the config file; reload with SIGHUP"),
            }),
  });

  const gateway: Gateway = {
    pipeline,
    metrics,
    control,
    start: () => lifecycle.start(),
    isReady: () => lifecycle.isReady(),
    shutdown: () => lifecycle.shutdown(),
    [Symbol.asyncDispose]() {
      return gateway.shutdown();
    },
  };
  return gateway;
}
