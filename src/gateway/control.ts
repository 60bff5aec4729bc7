import { createHash, timingSafeEqual } from "node:crypto";
import type { AdminControl, AdminResult } from "../admin/control-api.js";
import { AdaptiveController } from "../batching/adaptive.js";
import {
  type ConfigChange,
  type ConfigPlan,
  type GatewayConfig,
  isConfigError,
  loadConfigFile,
  planConfigChange,
  planConfigPatch,
  redactChange,
  redactConfig,
} from "../config/index.js";
import type { Logger } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics.js";
import type { LiveAuthenticator } from "../security/live-authenticator.js";
import type { ShadowSender } from "../shadow/shadow-sender.js";
import type { Lane } from "./lane.js";

/**
 * The control plane of a running gateway: the config in force and its
 * generation, and the one way to change it — a validated plan whose live
 * changes are applied to what the composition root built (the lanes, the
 * router, the shadow sampler, the authenticator), each logged with its old and
 * new value. The admin API, SIGHUP and the config-file watcher all come through here.
 */

export type ChangeSource = "admin" | "file";

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const isAuthChange = (c: ConfigChange) => c.path.startsWith("auth.");

export interface ControlDeps {
  readonly initial: GatewayConfig;
  /** Client identities: a live `auth.*` change swaps them; every file reload reads their key files again. */
  readonly auth?: LiveAuthenticator | undefined;
  /** The primary lanes, by backend name. */
  readonly lanes: ReadonlyMap<string, Lane>;
  /** The shadow path: its lane follows the teacher's batch shape, its sender `routing.shadow.percent`. */
  readonly shadow: { readonly lane: Lane; readonly sender: ShadowSender } | undefined;
  /** Rebuilds the router for a routing change. */
  readonly router: { reconfigure(cfg: GatewayConfig): void };
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  /** The file `serve --config` read; reloads read it again. */
  readonly configFile: string | undefined;
  /** The admin token in force (read at each write, so a rotated secret applies without a restart). */
  readonly adminToken: () => string | undefined;
  /** Called once a change is in force (`current()` is the new config): readiness follows `routing.default`. */
  readonly onApplied?: ((next: GatewayConfig) => void) | undefined;
}

export interface ConfigControl extends AdminControl {
  current(): GatewayConfig;
  generation(): number;
  /** Applies a plan's live changes; with source admin, any restart-only change refuses the whole plan. */
  apply(plan: ConfigPlan, source: ChangeSource): AdminResult;
  /** Reads the config file again (SIGHUP, file watch, POST /admin/reload). */
  reloadFile(): AdminResult;
}

export function createConfigControl(deps: ControlDeps): ConfigControl {
  const log = deps.logger.child({ component: "config" });
  const { metrics } = deps;
  let current = deps.initial;
  let generation = 1;
  metrics.configGeneration.set(generation);
  publishBackends(metrics, current);

  function reject(source: ChangeSource, status: 400 | 409, error: string, issues?: readonly string[]) {
    metrics.configReloads.labels(source, "rejected").inc();
    log.warn({ source, error, issues }, "config change rejected; the running config stays");
    return { ok: false, status, error, ...(issues ? { issues } : {}) } as const;
  }

  function applyLive(next: GatewayConfig, changes: readonly ConfigChange[]): void {
    const touched = new Set(changes.map((c) => c.path.split(".").slice(0, 2).join(".")));
    const shadow = deps.shadow;
    for (const lane of [...deps.lanes.values(), ...(shadow ? [shadow.lane] : [])]) {
      if (touched.has(`backends.${lane.name}`)) lane.reconfigure(next);
    }
    if (changes.some((c) => c.path.startsWith("routing."))) {
      deps.router.reconfigure(next);
      if (shadow && next.routing.shadow) shadow.sender.setPercent(next.routing.shadow.percent);
    }
    publishBackends(metrics, next);
  }

  const control: ConfigControl = {
    current: () => current,
    generation: () => generation,
    effectiveConfig: () => ({ generation, config: redactConfig(current) }),
    writesEnabled: () => deps.adminToken() !== undefined,
    authorize(token) {
      let expected: string | undefined;
      try {
        expected = deps.adminToken();
      } catch {
        // The token file vanished since writesEnabled() read it: no token matches.
        return false;
      }
      if (expected === undefined) return false;
      // Equal-length digests, so the comparison takes the same time whatever the guess.
      const digest = (s: string) => createHash("sha256").update(s).digest();
      return timingSafeEqual(digest(token), digest(expected));
    },
    batching() {
      return Object.fromEntries(
        [...deps.lanes].map(([name, { batcher: b }]) => {
          const { controller, ...limits } = b.limits;
          return [
            name,
            {
              mode: controller ? "adaptive" : "static",
              limits,
              queuedItems: b.queuedItems,
              inFlightBatches: b.inFlightBatches,
              ...(controller instanceof AdaptiveController ? { adaptive: controller.snapshot() } : {}),
            },
          ];
        }),
      );
    },
    patch(body) {
      let plan: ConfigPlan;
      try {
        plan = planConfigPatch(current, body);
      } catch (err) {
        if (isConfigError(err)) return reject("admin", 400, err.message, err.issues);
        return reject("admin", 400, `cannot apply the patch: ${errorMessage(err)}`);
      }
      return control.apply(plan, "admin");
    },
    apply(plan, source) {
      if (source === "admin" && plan.restartRequired.length > 0) {
        const paths = plan.restartRequired.map((c) => c.path);
        return reject(
          source,
          409,
          `${paths[0]}: cannot change while the gateway runs (restart with the new config); ` +
            "live keys are backends.<name>.batching.*, backends.<name>.cache.*, routing.*, " +
            "routing.shadow.percent and auth.*",
          paths.map((p) => `${p}: needs a restart`),
        );
      }
      for (const c of plan.restartRequired) {
        log.warn(
          { source, path: c.path, old: c.old, new: c.new },
          "config change needs a restart; not applied",
        );
      }
      if (plan.live.length === 0) {
        metrics.configReloads.labels(source, "unchanged").inc();
        return { ok: true, generation, changes: [] };
      }
      // Built first (it reads key files): a file that cannot be read refuses the whole change.
      let commitAuth: (() => void) | undefined;
      if (deps.auth && plan.live.some(isAuthChange)) {
        try {
          commitAuth = deps.auth.prepare(plan.next.auth);
        } catch (err) {
          return reject(source, 400, errorMessage(err));
        }
      }
      applyLive(plan.next, plan.live);
      commitAuth?.();
      // What is not live keeps its running value, so the config in force stays what runs.
      current = plan.restartRequired.length === 0 ? plan.next : mergeLive(current, plan.next, plan.live);
      generation++;
      metrics.configGeneration.set(generation);
      metrics.configReloads.labels(source, "applied").inc();
      deps.onApplied?.(current);
      // Shown without secrets (API key digests, tokens), as GET /admin/config shows the config.
      const changes = plan.live.map((c) => ({
        ...c,
        old: redactChange(c.path, c.old),
        new: redactChange(c.path, c.new),
      }));
      for (const c of changes) {
        log.info({ source, generation, path: c.path, old: c.old, new: c.new }, "config change applied");
      }
      return { ok: true, generation, changes };
    },
    async purgeCache(backend) {
      const lanes = backend === undefined ? [...deps.lanes.values()] : [deps.lanes.get(backend)];
      const purged: Record<string, number> = {};
      const sharedPurged: Record<string, number> = {};
      for (const lane of lanes) {
        if (lane === undefined) {
          return { ok: false, status: 404, error: `backend: no backend named ${JSON.stringify(backend)}` };
        }
        purged[lane.name] = lane.cache?.purge() ?? 0;
      }
      for (const lane of lanes) {
        const shared = lane?.cache?.shared;
        if (lane === undefined || shared === undefined) continue;
        try {
          sharedPurged[lane.name] = await shared.purge();
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          log.warn({ purged, backend: lane.name, err: reason }, "score cache: shared tier not purged");
          return {
            ok: false,
            status: 503,
            error: `backend ${lane.name}: in-process tier purged, shared tier not reachable (${reason}); try again`,
          };
        }
      }
      log.info({ purged, sharedPurged }, "score cache purged");
      return Object.keys(sharedPurged).length > 0 ? { ok: true, purged, sharedPurged } : { ok: true, purged };
    },
    reloadFile() {
      if (deps.configFile === undefined) {
        return reject("file", 409, "no config file: the gateway was not started with --config");
      }
      let next: GatewayConfig;
      try {
        next = loadConfigFile(deps.configFile);
      } catch (err) {
        // Whatever the file holds, a reload refuses it and the gateway keeps serving: an
        // error that is not a ConfigError (a library's own) is refused with its message.
        if (isConfigError(err)) return reject("file", 400, err.message, err.issues);
        return reject("file", 400, `cannot load config file ${deps.configFile}: ${errorMessage(err)}`);
      }
      const result = control.apply(planConfigChange(current, next), "file");
      // Key files are Secrets that rotate without a config change: read them again on every reload.
      if (result.ok && deps.auth && !result.changes.some(isAuthChange)) {
        try {
          deps.auth.refresh();
        } catch (err) {
          log.warn({ err: errorMessage(err) }, "cannot read a client key file again; the keys in force stay");
        }
      }
      return result;
    },
  };
  return control;
}

/** Which backends there are (kind, role, default) and their adaptive latency targets, as gauges. */
function publishBackends(metrics: GatewayMetrics, cfg: GatewayConfig): void {
  metrics.backendInfo.reset();
  for (const [name, b] of Object.entries(cfg.backends)) {
    metrics.backendInfo.labels(name, b.kind, b.role, String(name === cfg.routing.default)).set(1);
    const target = b.batching.mode === "adaptive" ? b.batching.targetLatencyMs : undefined;
    if (target === undefined) metrics.batchTargetLatency.remove(name);
    else metrics.batchTargetLatency.labels(name).set(target / 1000);
  }
}

/** `base` with the live sections (backends' batching, routing) taken from `next`. */
function mergeLive(base: GatewayConfig, next: GatewayConfig, live: readonly ConfigChange[]): GatewayConfig {
  const backends = { ...base.backends };
  for (const name of Object.keys(backends)) {
    const b = backends[name];
    const n = next.backends[name];
    if (b && n && live.some((c) => c.path.startsWith(`backends.${name}.batching.`))) {
      backends[name] = { ...backends[name]!, batching: n.batching };
    }
    if (b && n && live.some((c) => c.path.startsWith(`backends.${name}.cache.`))) {
      backends[name] = { ...backends[name]!, cache: n.cache };
    }
  }
  const routing =
    base.routing.shadow && next.routing.shadow
      ? { ...next.routing, shadow: { ...base.routing.shadow, percent: next.routing.shadow.percent } }
      : { ...next.routing, shadow: base.routing.shadow };
  const auth = live.some(isAuthChange) ? next.auth : base.auth;
  return { ...base, backends, routing, auth };
}
