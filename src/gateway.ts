import { randomUUID } from "node:crypto";
import type { Server as HttpServer } from "node:http";
import { status } from "@grpc/grpc-js";
import { createAdminServer, listen } from "./admin/server.js";
import { bindServer, createGrpcServer, type GrpcServer } from "./api/server.js";
import type { BackendClient } from "./backends/backend-client.js";
import { createBackend } from "./backends/create-backend.js";
import { createResilientBackend, type ResilientBackend } from "./backends/resilience/resilient-backend.js";
import { RetryBudget } from "./backends/resilience/retry-budget.js";
import { Batcher } from "./batching/batcher.js";
import {
  type ConfigWatcher,
  type GatewayConfig,
  resolveAdminToken,
  watchConfigFile,
} from "./config/index.js";
import {
  batchLimits,
  buildAuthenticator,
  buildRouter,
  type ConfigControl,
  costModelGauges,
  createConfigControl,
} from "./gateway-control.js";
import { createModelText } from "./model-text/index.js";
import { createLogger, type Logger } from "./observability/logger.js";
import {
  batcherMetrics,
  createMetrics,
  type GatewayMetrics,
  resilienceMetrics,
  shadowMetrics,
} from "./observability/metrics.js";
import { registerTraceMetrics } from "./observability/trace-metrics.js";
import { createPipeline, type Pipeline } from "./pipeline.js";
import type { ModelRoleName } from "./routing/router.js";
import { createHttpsServerTls } from "./security/https-tls.js";
import { createServerCredentials } from "./security/tls.js";
import { createComparisonLog } from "./shadow/comparison-log.js";
import { createShadowSender, type ShadowSender } from "./shadow/shadow-sender.js";
import { createTracing } from "./tracing/tracing.js";
import { type Clock, systemClock, type TimerHandle } from "./util/clock.js";
import { GatewayError } from "./util/gateway-error.js";
import { VERSION } from "./version.js";

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

const READINESS_POLL_MS = 1000;

/**
 * The shadow path, when `routing.shadow` is set: its own resilient view of the
 * teacher (own breakers) and its own batcher (own bounded queue and
 * concurrency), so that it is shed before it can touch the primary path.
 */
function createShadow(
  cfg: GatewayConfig,
  clients: ReadonlyMap<string, BackendClient>,
  env: { clock: Clock; logger: Logger; metrics: GatewayMetrics },
): { sender: ShadowSender; batcher: Batcher; backend: string } | undefined {
  // Built whenever routing.shadow is set, even at 0%, so its percent can be raised live.
  const s = cfg.routing.shadow;
  if (!s) return undefined;
  const client = clients.get(s.backend);
  const b = cfg.backends[s.backend];
  if (!client || !b) return undefined;
  const backend = createResilientBackend(client, {
    breaker: b.breaker,
    outlier: b.outlierDetection,
    clock: env.clock,
    logger: env.logger,
  });
  const batcher = new Batcher({
    backend: `${s.backend} (shadow)`,
    maxBatchSize: b.batching.maxBatchSize,
    maxQueueDelayMs: b.batching.maxQueueDelayMs,
    preferredBatchSizes: b.batching.preferredBatchSizes,
    maxQueueItems: s.maxQueueItems,
    maxConcurrentBatches: s.maxConcurrentBatches,
    endpoints: () => backend.endpoints(),
    callTimeoutMs: s.timeoutMs,
    shedUnreachableDeadlines: true,
    clock: env.clock,
  });
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
    batcher,
    clock: env.clock,
    logger: env.logger,
    observer: shadowMetrics(env.metrics),
    log: comparisonLog,
    logSampleRate: logCfg.sampleRate,
    redactText: logCfg.redactText,
  });
  return { sender, batcher, backend: s.backend };
}

/** The composition root: everything the gateway is made of, built from one config. */
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
  const backends = new Map<string, ResilientBackend>();
  const batchers = new Map<string, Batcher>();
  for (const [name, client] of clients) {
    const b = cfg.backends[name];
    if (!b) continue;
    const backend = createResilientBackend(client, {
      breaker: b.breaker,
      outlier: b.outlierDetection,
      clock,
      logger,
      hooks: resilienceMetrics(metrics, name),
    });
    backends.set(name, backend);
    batchers.set(
      name,
      new Batcher({
        backend: name,
        ...batchLimits(b.batching, undefined, costModelGauges(metrics, name)),
        endpoints: () => backend.endpoints(),
        callTimeoutMs: b.timeoutMs,
        retryBudget: b.retry.enabled
          ? new RetryBudget(
              { percent: b.retry.budgetPercent, minRetries: b.retry.minRetries, windowMs: b.retry.windowMs },
              clock,
            )
          : undefined,
        shedUnreachableDeadlines: b.shedUnreachableDeadlines,
        clock,
        observer: batcherMetrics(metrics, name),
      }),
    );
  }

  const shadow = createShadow(cfg, clients, { clock, logger, metrics });

  // Rebuilt on a live routing change; read once per request.
  let router = buildRouter(cfg, roles);
  const pipeline = createPipeline({
    shadow: shadow?.sender,
    limits: cfg.limits,
    modelText: createModelText(cfg.modelText),
    router: { route: (input) => router.route(input) },
    batchers,
    roles,
    isAvailable: (name) => backends.get(name)?.available() ?? false,
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
    batchers,
    shadow,
    setRouter: (next) => {
      router = next;
    },
    roles,
    metrics,
    logger,
    configFile: overrides.configFile,
    adminToken: overrides.adminToken ?? (() => resolveAdminToken(cfg.server.admin.tokenFile)),
    // A live change of routing.default moves readiness and health at once, not at the next poll.
    onApplied: () => {
      if (grpc) refreshReadiness();
    },
  });
  // A token that cannot be read fails the start, not the first admin write.
  control.writesEnabled();

  let grpc: GrpcServer | undefined;
  let admin: HttpServer | undefined;
  let readinessTimer: TimerHandle | undefined;
  let configWatcher: ConfigWatcher | undefined;
  let shuttingDown = false;
  let lastReady: boolean | undefined;

  function notReadyReasons(): string[] {
    const reasons: string[] = [];
    if (shuttingDown) reasons.push("shutting down");
    // The default in force: routing.default changes live (admin API, reload).
    const defaultName = control.current().routing.default;
    const defaultBackend = backends.get(defaultName);
    if (!defaultBackend) reasons.push(`default backend ${defaultName} is not built`);
    else if (!defaultBackend.isReady()) {
      const eps = defaultBackend
        .endpoints()
        .map((e) => (e.notReady ? `${e.id} ${e.state}: ${e.notReady.reason}` : `${e.id} ${e.state}`));
      reasons.push(`default backend ${defaultName} has no ready endpoint (${eps.join(", ")})`);
    }
    return reasons;
  }

  const reportedEndpoints = new Map<string, Set<string>>();
  /** The cause series set per backend, by endpoint, so a change of cause (or readiness) removes the old one. */
  const reportedCauses = new Map<string, Map<string, string>>();

  function refreshReadiness(): void {
    for (const [name, backend] of backends) {
      metrics.backendReady.labels(name).set(backend.isReady() ? 1 : 0);
      const current = new Set<string>();
      for (const ep of backend.endpoints()) {
        current.add(ep.id);
        metrics.endpointReady
          .labels(name, ep.id)
          .set(ep.state === "ready" ? 1 : ep.state === "unknown" ? -1 : 0);
        const causes = reportedCauses.get(name) ?? new Map<string, string>();
        reportedCauses.set(name, causes);
        const was = causes.get(ep.id);
        const cause = ep.notReady?.cause;
        if (was !== undefined && was !== cause) metrics.endpointNotReady.remove(name, ep.id, was);
        if (cause === undefined) causes.delete(ep.id);
        else {
          metrics.endpointNotReady.labels(name, ep.id, cause).set(1);
          causes.set(ep.id, cause);
        }
      }
      // Endpoints that left (DNS discovery) take their series with them.
      const previous = reportedEndpoints.get(name) ?? new Set<string>();
      for (const id of previous) {
        if (!current.has(id)) {
          metrics.endpointReady.remove(name, id);
          metrics.breakerState.remove(name, id);
          const cause = reportedCauses.get(name)?.get(id);
          if (cause !== undefined) metrics.endpointNotReady.remove(name, id, cause);
          reportedCauses.get(name)?.delete(id);
        }
      }
      reportedEndpoints.set(name, current);
    }
    const ready = notReadyReasons().length === 0;
    grpc?.setServing(ready);
    if (ready !== lastReady) {
      lastReady = ready;
      if (ready) log.info("ready: serving");
      else log.warn({ reasons: notReadyReasons() }, "not ready");
    }
  }

  function scheduleReadiness(): void {
    readinessTimer = clock.setTimeout(() => {
      refreshReadiness();
      if (!shuttingDown) scheduleReadiness();
    }, READINESS_POLL_MS);
  }

  const gateway: Gateway = {
    pipeline,
    metrics,
    control,
    async start() {
      // First: an unusable certificate or key fails the start before anything else begins.
      const serverCredentials = createServerCredentials(cfg.server.grpc.tls, logger);
      const adminTls =
        cfg.server.admin.tls === null ? undefined : createHttpsServerTls(cfg.server.admin.tls, logger);
      await Promise.all([...backends.values()].map((b) => b.start()));
      await tracing.start();
      grpc = createGrpcServer(pipeline, clock, cfg.server.grpc, auth);
      // With TLS, the certificate files are watched while the listener is open (closed by shutdown).
      const grpcPort = await bindServer(
        grpc.server,
        cfg.server.grpc.host,
        cfg.server.grpc.port,
        serverCredentials.credentials,
      );
      // With TLS, the certificate files are watched while the listener is open (closed by shutdown).
      admin = createAdminServer(metrics.registry, { notReadyReasons, control }, logger, adminTls);
      const adminPort = await listen(admin, cfg.server.admin.host, cfg.server.admin.port);
      refreshReadiness();
      scheduleReadiness();
      const file = overrides.configFile;
      if (file !== undefined && cfg.server.reload.watchFile) {
        configWatcher = watchConfigFile(file, {
          debounceMs: cfg.server.reload.debounceMs,
          onChange: () => {
            log.info({ file }, "config file changed: reloading");
            control.reloadFile();
          },
          onError: (err) => log.warn({ err, file }, "cannot watch the config file; reload with SIGHUP"),
        });
      }
      log.info(
        {
          grpc: `${cfg.server.grpc.host}:${grpcPort}`,
          transport: serverCredentials.mode,
          certificate: serverCredentials.certificate(),
          admin: `${cfg.server.admin.host}:${adminPort}`,
          adminTransport: adminTls?.mode ?? "plaintext",
          adminCertificate: adminTls?.certificate(),
          version: VERSION,
        },
        "listening",
      );
      return { grpcPort, adminPort };
    },
    isReady: () => notReadyReasons().length === 0,
    async shutdown() {
      if (shuttingDown) return;
      shuttingDown = true;
      readinessTimer?.cancel();
      configWatcher?.close();
      grpc?.setServing(false);
      const graceMs = cfg.server.shutdownGraceMs;
      // Keep the end of the grace period for closing connections, so the whole stop fits in it.
      const closeReserveMs = Math.min(500, graceMs / 4);
      log.info({ graceMs }, "shutting down: draining");
      const error = new GatewayError(
        status.UNAVAILABLE,
        "SHUTTING_DOWN",
        "gateway shut down before the request finished",
      );
      // One end of the grace period for the primary path and the shadow path alike.
      const drainTimeout = new Promise<"timeout">((resolve) =>
        clock.setTimeout(() => resolve("timeout"), graceMs - closeReserveMs),
      );
      const drained = Promise.all([...batchers.values()].map((b) => b.drain()));
      // The shadow batcher drains alongside (it admits nothing new from now on); its calls
      // may wait for routing.shadow.timeoutMs, far past the grace, so they are cut at its end.
      const shadowDrained = shadow?.batcher.drain();
      const outcome = await Promise.race([drained.then(() => "drained" as const), drainTimeout]);
      if (outcome === "timeout") {
        for (const b of batchers.values()) b.abortAll(error);
        log.warn("shutdown grace period over: unfinished requests answered UNAVAILABLE");
      }
      if (shadow && shadowDrained) {
        const shadowOutcome = await Promise.race([
          shadowDrained.then(() => "drained" as const),
          drainTimeout,
        ]);
        if (shadowOutcome === "timeout") {
          shadow.batcher.abortAll(error);
          log.warn("shutdown grace period over: unfinished shadow requests dropped");
        }
      }
      await new Promise<void>((resolve) => {
        if (!grpc) return resolve();
        // Answers already produced are flushed; then the connections close.
        grpc.server.tryShutdown(() => resolve());
        clock.setTimeout(() => {
          grpc?.server.forceShutdown();
          resolve();
        }, closeReserveMs);
      });
      if (admin) {
        const closed = new Promise<void>((resolve) => admin?.close(() => resolve()));
        admin.closeAllConnections();
        await closed;
      }
      if (shadow) {
        // Shadow work was drained or aborted above; what remains is the comparison log's flush.
        await Promise.race([
          shadow.sender.close(),
          new Promise((r) => clock.setTimeout(() => r(undefined), closeReserveMs)),
        ]);
      }
      await Promise.all([...backends.values()].map((b) => b[Symbol.asyncDispose]()));
      // Every span has ended by now; the last ones are exported (bounded by tracing.exportTimeoutMs).
      await tracing.shutdown();
      log.info("stopped");
    },
    [Symbol.asyncDispose]() {
      return gateway.shutdown();
    },
  };
  return gateway;
}
