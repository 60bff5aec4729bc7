import type { Server as HttpServer } from "node:http";
import type { GrpcServer } from "../api/server.js";
import type { Logger } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import type { ShadowSender } from "../shadow/shadow-sender.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import { GatewayError } from "../util/gateway-error.js";
import type { Lane } from "./lane.js";

/**
 * The lifecycle of a built gateway: start (backends, tracing, listeners,
 * readiness polling, config watch), readiness, and the graceful stop (drain
 * within the grace period, close listeners, dispose lanes). It receives what
 * the composition root built and reads no config.
 */

/** The listeners, built by the composition root. */
export interface Servers {
  /** Reads certificates and keys, so that an unusable one fails the start before anything else begins. */
  prepare(): PreparedServers;
}

/** What the lifecycle uses of the gRPC listener: health to flip, a server to close. */
export type GrpcListener = Pick<GrpcServer, "server" | "setServing">;

export interface PreparedServers {
  listenGrpc(): Promise<{ readonly server: GrpcListener; readonly port: number }>;
  listenAdmin(
    notReadyReasons: () => string[],
  ): Promise<{ readonly server: HttpServer; readonly port: number }>;
  /** What the "listening" log line says besides the ports. */
  describe(grpcPort: number, adminPort: number): Record<string, unknown>;
}

export interface LifecycleParts {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** The primary lanes, by backend name. */
  readonly lanes: ReadonlyMap<string, Lane>;
  readonly shadow: { readonly lane: Lane; readonly sender: ShadowSender } | undefined;
  readonly tracing: { start(): Promise<void>; shutdown(): Promise<void> };
  readonly servers: Servers;
  /** The default backend in force (`routing.default` changes live). */
  readonly defaultBackend: () => string;
  /** `server.shutdownGraceMs`: the whole stop fits in it. */
  readonly shutdownGraceMs: number;
  /** Starts following the config file once listening (when reloads follow it); returns how to stop. */
  readonly watchConfig?: (() => { close(): void } | undefined) | undefined;
  /** Readiness poll period; default 1000 ms. */
  readonly readinessPollMs?: number | undefined;
}

export interface Lifecycle {
  /** Starts the backends' readiness probes, then listens; resolves with the bound ports. */
  start(): Promise<{ grpcPort: number; adminPort: number }>;
  isReady(): boolean;
  notReadyReasons(): string[];
  /** Reads readiness now, once listening (a live change of routing.default moves it at once). */
  refreshReadiness(): void;
  /**
   * Graceful stop: health turns NOT_SERVING, new calls are refused, queued and
   * in-flight batches drain for up to the grace period, what remains is
   * answered UNAVAILABLE, then listeners and lanes close.
   */
  shutdown(): Promise<void>;
}

const READINESS_POLL_MS = 1000;

export function createLifecycle(parts: LifecycleParts): Lifecycle {
  const { clock, metrics, lanes, shadow, tracing } = parts;
  const log = parts.logger.child({ component: "gateway" });
  const pollMs = parts.readinessPollMs ?? READINESS_POLL_MS;
  let grpc: GrpcListener | undefined;
  let admin: HttpServer | undefined;
  let readinessTimer: TimerHandle | undefined;
  let configWatcher: { close(): void } | undefined;
  let shuttingDown = false;
  let lastReady: boolean | undefined;

  function notReadyReasons(): string[] {
    const reasons: string[] = [];
    if (shuttingDown) reasons.push("shutting down");
    const defaultName = parts.defaultBackend();
    const defaultBackend = lanes.get(defaultName)?.backend;
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

  function publishReadiness(): void {
    for (const [name, { backend }] of lanes) {
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
      publishReadiness();
      if (!shuttingDown) scheduleReadiness();
    }, pollMs);
  }

  /** Drains `drained` until the end of the grace period, then answers what remains with `error`. */
  async function drainWithin(
    lanesToDrain: readonly Lane[],
    drained: Promise<unknown>,
    end: Promise<"timeout">,
    error: GatewayError,
    message: string,
  ): Promise<void> {
    const outcome = await Promise.race([drained.then(() => "drained" as const), end]);
    if (outcome === "timeout") {
      for (const lane of lanesToDrain) lane.abort(error);
      log.warn(message);
    }
  }

  return {
    async start() {
      // First: an unusable certificate or key fails the start before anything else begins.
      const servers = parts.servers.prepare();
      await Promise.all([...lanes.values()].map((l) => l.start()));
      await tracing.start();
      const boundGrpc = await servers.listenGrpc();
      grpc = boundGrpc.server;
      const boundAdmin = await servers.listenAdmin(notReadyReasons);
      admin = boundAdmin.server;
      publishReadiness();
      scheduleReadiness();
      configWatcher = parts.watchConfig?.();
      log.info(servers.describe(boundGrpc.port, boundAdmin.port), "listening");
      return { grpcPort: boundGrpc.port, adminPort: boundAdmin.port };
    },
    isReady: () => notReadyReasons().length === 0,
    notReadyReasons,
    refreshReadiness() {
      if (grpc) publishReadiness();
    },
    async shutdown() {
      if (shuttingDown) return;
      shuttingDown = true;
      readinessTimer?.cancel();
      configWatcher?.close();
      grpc?.setServing(false);
      const graceMs = parts.shutdownGraceMs;
      // Keep the end of the grace period for closing connections, so the whole stop fits in it.
      const closeReserveMs = Math.min(500, graceMs / 4);
      log.info({ graceMs }, "shutting down: draining");
      const error = new GatewayError("SHUTTING_DOWN", "gateway shut down before the request finished");
      // One end of the grace period for the primary path and the shadow path alike.
      const drainTimeout = new Promise<"timeout">((resolve) =>
        clock.setTimeout(() => resolve("timeout"), graceMs - closeReserveMs),
      );
      const primary = [...lanes.values()];
      const drained = Promise.all(primary.map((l) => l.drain()));
      // The shadow lane drains alongside (it admits nothing new from now on); its calls
      // may wait for routing.shadow.timeoutMs, far past the grace, so they are cut at its end.
      const shadowDrained = shadow?.lane.drain();
      await drainWithin(
        primary,
        drained,
        drainTimeout,
        error,
        "shutdown grace period over: unfinished requests answered UNAVAILABLE",
      );
      if (shadow && shadowDrained) {
        await drainWithin(
          [shadow.lane],
          shadowDrained,
          drainTimeout,
          error,
          "shutdown grace period over: unfinished shadow requests dropped",
        );
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
      await Promise.all([...lanes.values(), ...(shadow ? [shadow.lane] : [])].map((l) => l.dispose()));
      // Every span has ended by now; the last ones are exported (bounded by tracing.exportTimeoutMs).
      await tracing.shutdown();
      log.info("stopped");
    },
  };
}
