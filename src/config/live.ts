import { validateConfig } from "./config.js";
import { ConfigError } from "./errors.js";
import type { GatewayConfig } from "./schema.js";

/**
 * Changing the configuration of a running gateway. A candidate config (a
 * reloaded file, or the running one with a JSON merge patch applied) goes
 * through the same validation as at start; then it is compared with the
 * running one, key by key. Only some keys can change without a restart:
 *
 * - `backends.<name>.batching.*`: the batcher applies new limits from its
 *   next flush decision, keeping what is queued or in flight;
 * - `backends.<name>.cache.*`: the in-process tier is resized (the most
 *   recently used entries that fit are kept) and its TTL applied to every
 *   entry by its age; `maxBytes: 0` empties it; the shared tier
 *   (`cache.shared.*`) is connected at start and needs a restart;
 * - `routing.*` except `routing.shadow` (which only changes its `percent`):
 *   the router is rebuilt and used from the next request on.
 * - `auth.*`: client identities and policies are rebuilt (key files read
 *   again) and used from the next request on; rate-limit buckets whose rate
 *   is unchanged keep their state.
 *
 * Everything else (listeners, endpoints, backend kinds, limits, model text…)
 * is wired into long-lived objects at start and needs a restart.
 */

/** One changed leaf: its dotted path, the value in force and the new one (undefined: absent). */
export interface ConfigChange {
  readonly path: string;
  readonly old: unknown;
  readonly new: unknown;
}

export interface ConfigPlan {
  /** The validated candidate. */
  readonly next: GatewayConfig;
  /** Leaves that differ and can change live. */
  readonly live: readonly ConfigChange[];
  /** Leaves that differ but only take effect after a restart. */
  readonly restartRequired: readonly ConfigChange[];
}

const LIVE_PATH = [
  /^backends\.[^.]+\.batching\./,
  /^backends\.[^.]+\.cache\.(?!shared(\.|$))/,
  /^routing\.(?!shadow\.)/,
  /^routing\.shadow\.percent$/,
  /^auth\./,
];

export function isLivePath(path: string): boolean {
  return LIVE_PATH.some((re) => re.test(path));
}

/** Compares a validated candidate with the running config. */
export function planConfigChange(current: GatewayConfig, next: GatewayConfig): ConfigPlan {
  const live: ConfigChange[] = [];
  const restartRequired: ConfigChange[] = [];
  // The shadow path is built at start: only its percent changes live, and only when it exists before and after.
  const shadowStays = current.routing.shadow !== undefined && next.routing.shadow !== undefined;
  for (const change of diff(current, next, "")) {
    const isLive = change.path.startsWith("routing.shadow.")
      ? shadowStays && isLivePath(change.path)
      : isLivePath(change.path);
    (isLive ? live : restartRequired).push(change);
  }
  return { next, live, restartRequired };
}

/**
 * Applies an RFC 7396 JSON merge patch to the running config and validates
 * the result: objects merge key by key, `null` deletes a key (restoring its
 * default), anything else replaces. Throws ConfigError naming the field.
 */
export function planConfigPatch(current: GatewayConfig, patch: unknown): ConfigPlan {
  if (!isPlainObject(patch)) {
    throw new ConfigError("the patch must be a JSON object (a merge patch of the configuration)");
  }
  const merged = mergePatch(structuredClone(current) as unknown, patch);
  return planConfigChange(current, validateConfig(merged, {}));
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const result: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** Leaves that differ between `a` and `b`; arrays compare (and report) as a whole. */
function diff(a: unknown, b: unknown, path: string): ConfigChange[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => diff(a[k], b[k], path === "" ? k : `${path}.${k}`));
  }
  if (isPlainObject(a) || isPlainObject(b)) {
    // A section appeared or went away: report its leaves, so the live rule applies to each.
    return isPlainObject(a)
      ? Object.keys(a).flatMap((k) => diff(a[k], undefined, `${path}.${k}`))
      : Object.keys(b as Record<string, unknown>).flatMap((k) =>
          diff(undefined, (b as Record<string, unknown>)[k], `${path}.${k}`),
        );
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [{ path, old: a, new: b }];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const SECRET_KEY = /(secret|password|token$|apikey|authorization|headers)/i;

/**
 * The config as the admin API shows it: values under secret-looking keys
 * (`headers`, `…Token`, `apiKey`, `password`…) are replaced by "[redacted]";
 * paths to secret files (`…File`) are not secrets and stay.
 */
/** A changed value as logs and the admin API show it: `redactConfig`, and the path's own key checked too. */
export function redactChange(path: string, value: unknown): unknown {
  const key = (path.split(".").pop() ?? "").replace(/\[\d+\]$/, "");
  if (SECRET_KEY.test(key) && !/File$/.test(key) && value !== null && value !== undefined)
    return "[redacted]";
  return redactConfig(value);
}

/**
 * Like `redactConfig`, but a secret's shape is kept: each value of a secret
 * mapping (`tracing.headers`: the header names stay) and each element of a
 * secret list is "[redacted]", and an empty one stays empty. `check-config`
 * prints this, so that its output still loads as a config wherever no
 * secret's format is checked (header values, tokens; not SHA-256 digests).
 */
export function redactConfigKeepingShape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactConfigKeepingShape);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && !/File$/.test(k) ? redactLeaves(v) : redactConfigKeepingShape(v);
  }
  return out;
}

function redactLeaves(value: unknown): unknown {
  if (value === null || value === undefined) return value;
  if (Array.isArray(value)) return value.map(redactLeaves);
  if (isPlainObject(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactLeaves(v)]));
  return "[redacted]";
}

export function redactConfig(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactConfig);
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      SECRET_KEY.test(k) && !/File$/.test(k) && v !== null && v !== undefined
        ? "[redacted]"
        : redactConfig(v);
  }
  return out;
}
