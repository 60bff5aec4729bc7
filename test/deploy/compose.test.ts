// Acceptance (issue 7, "compose file for one GPU host"): deploy/compose/compose.yaml uses only keys
// of the Compose specification, mounts files that exist, gives both model servers a GPU, publishes
// only the gateway's gRPC port beyond the host's loopback, and agrees with everything it wires
// together: the gateway config (which passes `check-config`) and its backends' ports, the Triton
// model repository, the vLLM arguments, and the Prometheus and Grafana files of deploy/prometheus
// and deploy/grafana (read, never changed, here). A broken compose file is shown to fail.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import t, { type Test } from "tap";
import { parse } from "yaml";
import type { GatewayConfig } from "../../src/config/index.js";
import {
  effectiveConfig,
  loadModelRepository,
  MODEL_REPOSITORY,
  parseVllmArgs,
  repoPath,
  runCheckConfig,
  studentMismatches,
  teacherMismatches,
  tritonBackend,
  vllmBackend,
} from "./deploy-helpers.js";

const COMPOSE_FILE = "deploy/compose/compose.yaml";
const COMPOSE_DIR = dirname(COMPOSE_FILE);
const GATEWAY = "relevance-gateway";

// The Compose specification's keys (compose-spec, schema/compose-spec.json): an unknown key is a
// typo that `docker compose` would reject or, worse, ignore.
const TOP_LEVEL_KEYS = new Set([
  "version",
  "name",
  "include",
  "services",
  "networks",
  "volumes",
  "secrets",
  "configs",
  "models",
]);
const SERVICE_KEYS = new Set(
  (
    "annotations attach blkio_config build cap_add cap_drop cgroup cgroup_parent command configs container_name " +
    "cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpu_shares cpus cpuset credential_spec " +
    "depends_on deploy develop device_cgroup_rules devices dns dns_opt dns_search domainname entrypoint env_file " +
    "environment expose extends external_links extra_hosts gpus group_add healthcheck hostname image init ipc " +
    "isolation labels links logging mac_address mem_limit mem_reservation mem_swappiness memswap_limit models " +
    "network_mode networks oom_kill_disable oom_score_adj pid pids_limit platform ports post_start pre_stop " +
    "privileged profiles provider pull_policy read_only restart runtime scale secrets security_opt shm_size " +
    "stdin_open stop_grace_period stop_signal storage_opt sysctls tmpfs tty ulimits use_api_socket user " +
    "userns_mode uts volumes volumes_from working_dir"
  ).split(" "),
);
const HEALTHCHECK_KEYS = new Set([
  "test",
  "interval",
  "timeout",
  "retries",
  "start_period",
  "start_interval",
  "disable",
]);
const DEVICE_KEYS = new Set(["driver", "count", "device_ids", "capabilities", "options"]);
const DEPENDS_CONDITIONS = new Set(["service_started", "service_healthy", "service_completed_successfully"]);
const DURATION = /^(?:\d+(?:\.\d+)?(?:us|ms|s|m|h))+$/;

interface Healthcheck {
  test?: string[] | string;
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
  [key: string]: unknown;
}

interface ComposeService {
  build?: { context?: string; dockerfile?: string } | string;
  image?: string;
  command?: string[] | string;
  entrypoint?: string[] | string;
  volumes?: (string | { type?: string; source?: string; target?: string; read_only?: boolean })[];
  ports?: (string | { target?: number; published?: string | number; host_ip?: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: Healthcheck;
  deploy?: { resources?: { reservations?: { devices?: Record<string, unknown>[] } } };
  stop_grace_period?: string;
  read_only?: boolean;
  cap_drop?: string[];
  [key: string]: unknown;
}

interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  [key: string]: unknown;
}

function loadCompose(text = readFileSync(repoPath(COMPOSE_FILE), "utf8")): Compose {
  return parse(text) as Compose;
}

function list(value: string[] | string | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : value.split(/\s+/);
}

/** `--name=value` in an argument list. */
function flag(args: readonly string[], name: string): string | undefined {
  return args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
}

/** Milliseconds of a compose duration ("1m30s"). */
function durationMs(d: string): number {
  const units: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const [, n, unit] of d.matchAll(/(\d+(?:\.\d+)?)(us|ms|s|m|h)/g)) total += Number(n) * units[unit!]!;
  return total;
}

interface Bind {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
}

/** Bind mounts (relative sources, resolved against the compose file's directory) and named volumes. */
function mounts(service: ComposeService): { binds: Bind[]; named: string[] } {
  const binds: Bind[] = [];
  const named: string[] = [];
  for (const v of service.volumes ?? []) {
    const [source = "", target = "", mode = ""] =
      typeof v === "string" ? v.split(":") : [v.source ?? "", v.target ?? "", v.read_only ? "ro" : ""];
    if (source.startsWith(".") || source.startsWith("/")) {
      binds.push({
        source: posix.normalize(posix.join(COMPOSE_DIR, source)),
        target,
        readOnly: mode.split(",").includes("ro"),
      });
    } else named.push(source);
  }
  return { binds, named };
}

/** [host ip, host port, container port] of each published port. */
function published(service: ComposeService): [string, string, number][] {
  return (service.ports ?? []).map((p) => {
    if (typeof p !== "string") return [p.host_ip ?? "0.0.0.0", String(p.published ?? ""), p.target ?? 0];
    const parts = p.split(":");
    const container = Number(parts.pop());
    const host = parts.pop() ?? "";
    return [parts.pop() ?? "0.0.0.0", host, container];
  });
}

/** The ports each service listens on, from its own configuration. */
function listeners(compose: Compose, cfg: GatewayConfig): Map<string, Set<number>> {
  const s = compose.services;
  const triton = list(s.triton?.command);
  const vllm = list(s.vllm?.command);
  return new Map([
    [GATEWAY, new Set([cfg.server.grpc.port, cfg.server.admin.port])],
    ["triton", new Set(["--http-port", "--grpc-port", "--metrics-port"].map((f) => Number(flag(triton, f))))],
    ["vllm", new Set([Number(flag(vllm, "--port") ?? 8000)])],
    ["prometheus", new Set([9090])],
    ["grafana", new Set([3000])],
  ]);
}

/** "host:port" → a problem unless host is a compose service listening on port. */
function targetProblem(where: string, target: string, ports: Map<string, Set<number>>): string | undefined {
  const m = /^([\w.-]+):(\d+)$/.exec(target);
  if (m === null) return `${where}: "${target}" is not host:port`;
  const [, host, port] = m;
  if (host === "localhost" || host === "127.0.0.1") return undefined;
  const service = ports.get(host!);
  if (service === undefined) return `${where}: ${host} is not a service of ${COMPOSE_FILE}`;
  if (!service.has(Number(port)))
    return `${where}: ${host} does not listen on ${port} (it listens on ${[...service].join(", ")})`;
  return undefined;
}

/** What is wrong with the compose file (`cfg`: the effective gateway config it mounts). */
function composeProblems(compose: Compose, cfg: GatewayConfig): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(compose)) {
    if (!TOP_LEVEL_KEYS.has(key) && !key.startsWith("x-")) problems.push(`unknown top-level key ${key}`);
  }
  const services = compose.services;
  const names = Object.keys(services);
  for (const [name, service] of Object.entries(services)) {
    for (const key of Object.keys(service)) {
      if (!SERVICE_KEYS.has(key) && !key.startsWith("x-")) problems.push(`${name}: unknown key ${key}`);
    }
    for (const key of Object.keys(service.healthcheck ?? {})) {
      if (!HEALTHCHECK_KEYS.has(key)) problems.push(`${name}: unknown healthcheck key ${key}`);
    }
    for (const key of ["interval", "timeout", "start_period"] as const) {
      const d = service.healthcheck?.[key];
      if (d !== undefined && !DURATION.test(d))
        problems.push(`${name}: healthcheck.${key} "${d}" is not a duration`);
    }
    if (service.stop_grace_period !== undefined && !DURATION.test(service.stop_grace_period)) {
      problems.push(`${name}: stop_grace_period is not a duration`);
    }
    for (const device of service.deploy?.resources?.reservations?.devices ?? []) {
      for (const key of Object.keys(device))
        if (!DEVICE_KEYS.has(key)) problems.push(`${name}: unknown device key ${key}`);
    }
    const deps = service.depends_on ?? [];
    for (const [dep, spec] of Array.isArray(deps)
      ? deps.map((d) => [d, {}] as const)
      : Object.entries(deps)) {
      if (!names.includes(dep)) problems.push(`${name}: depends on ${dep}, which is not a service`);
      const condition = (spec as { condition?: string }).condition;
      if (condition !== undefined && !DEPENDS_CONDITIONS.has(condition))
        problems.push(`${name}: unknown condition ${condition}`);
      if (condition === "service_healthy" && services[dep]?.healthcheck === undefined) {
        problems.push(`${name}: waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
      }
    }
    const { binds, named } = mounts(service);
    for (const b of binds)
      if (!existsSync(repoPath(b.source))) problems.push(`${name}: mounts ${b.source}, which does not exist`);
    for (const v of named)
      if (!(v in (compose.volumes ?? {}))) problems.push(`${name}: volume ${v} is not declared`);
    for (const [ip, host] of published(service)) {
      const isGrpc = name === GATEWAY && Number(host) === cfg.server.grpc.port;
      if (!isGrpc && ip !== "127.0.0.1")
        problems.push(`${name}: port ${host} is published beyond the host's loopback`);
    }
  }
  for (const required of [GATEWAY, "triton", "vllm", "prometheus", "grafana"]) {
    if (!(required in services)) problems.push(`no ${required} service`);
  }

  // The model servers each get a GPU.
  for (const name of ["triton", "vllm"]) {
    const devices = services[name]?.deploy?.resources?.reservations?.devices ?? [];
    const gpu = devices.some(
      (d) => d.driver === "nvidia" && Array.isArray(d.capabilities) && d.capabilities.includes("gpu"),
    );
    if (!gpu) problems.push(`${name}: no NVIDIA GPU reserved`);
  }

  // The gateway: its image, its config, its ports.
  const gateway = services[GATEWAY] ?? {};
  const build = typeof gateway.build === "string" ? { context: gateway.build } : (gateway.build ?? {});
  const dockerfile = posix.join(COMPOSE_DIR, build.context ?? ".", build.dockerfile ?? "Dockerfile");
  if (!existsSync(repoPath(dockerfile)))
    problems.push(`${GATEWAY}: builds from ${dockerfile}, which does not exist`);
  const command = list(gateway.command);
  const configPath = command[command.indexOf("--config") + 1];
  // The config's directory is mounted (a single-file bind mount misses editors' rename-on-save).
  const configBind = mounts(gateway).binds.find((b) => b.target === posix.dirname(configPath ?? ""));
  const configSource =
    configBind === undefined ? undefined : posix.join(configBind.source, posix.basename(configPath ?? ""));
  if (configSource !== "deploy/config/compose.yaml" || !configBind?.readOnly) {
    problems.push(
      `${GATEWAY}: --config ${configPath} must be deploy/config/compose.yaml, its directory mounted read-only`,
    );
  }
  if (gateway.read_only !== true) problems.push(`${GATEWAY}: the container filesystem should be read-only`);
  if (!(gateway.cap_drop ?? []).includes("ALL")) problems.push(`${GATEWAY}: cap_drop ALL`);
  if (durationMs(gateway.stop_grace_period ?? "10s") <= cfg.server.shutdownGraceMs) {
    problems.push(
      `${GATEWAY}: stop_grace_period must exceed server.shutdownGraceMs (${cfg.server.shutdownGraceMs} ms)`,
    );
  }

  // Every address the gateway, Prometheus and Grafana dial is a service listening there.
  const ports = listeners(compose, cfg);
  for (const [name, backend] of Object.entries(cfg.backends)) {
    for (const endpoint of backend.endpoints) {
      const target = endpoint
        .replace(/^dns:\/\/\//, "")
        .replace(/^(?:dns\+)?https?:\/\//, "")
        .replace(/\/.*$/, "");
      const problem = targetProblem(`backends.${name}`, target, ports);
      if (problem) problems.push(problem);
    }
  }
  const prometheus = mounts(services.prometheus ?? {});
  const configFile =
    flag(list(services.prometheus?.command), "--config.file") ?? "/etc/prometheus/prometheus.yml";
  const promDir = prometheus.binds.find((b) => b.target === dirname(configFile));
  if (promDir === undefined) problems.push(`prometheus: nothing is mounted at ${dirname(configFile)}`);
  else {
    const promConfig = parse(readFileSync(repoPath(join(promDir.source, "prometheus.yml")), "utf8")) as {
      rule_files?: string[];
      scrape_configs?: { job_name: string; static_configs?: { targets: string[] }[] }[];
    };
    for (const rules of promConfig.rule_files ?? []) {
      if (!existsSync(repoPath(join(promDir.source, rules))))
        problems.push(`prometheus: rule file ${rules} is not in ${promDir.source}`);
    }
    for (const job of promConfig.scrape_configs ?? []) {
      for (const target of (job.static_configs ?? []).flatMap((c) => c.targets)) {
        const problem = targetProblem(`prometheus job ${job.job_name}`, target, ports);
        if (problem) problems.push(problem);
      }
    }
  }
  const grafana = mounts(services.grafana ?? {});
  for (const kind of ["datasources", "dashboards"]) {
    const bind = grafana.binds.find((b) => b.target === `/etc/grafana/provisioning/${kind}`);
    if (bind === undefined) {
      problems.push(`grafana: /etc/grafana/provisioning/${kind} is not mounted`);
      continue;
    }
    for (const file of readdirSync(repoPath(bind.source)).filter((f) => /\.ya?ml$/.test(f))) {
      const provisioning = parse(readFileSync(repoPath(join(bind.source, file)), "utf8")) as {
        datasources?: { url?: string }[];
        providers?: { options?: { path?: string } }[];
      };
      for (const ds of provisioning.datasources ?? []) {
        const url = new URL(ds.url ?? "");
        const problem = targetProblem(`grafana datasource ${file}`, `${url.hostname}:${url.port}`, ports);
        if (problem) problems.push(problem);
      }
      for (const provider of provisioning.providers ?? []) {
        const path = provider.options?.path ?? "";
        if (!grafana.binds.some((b) => b.target === path))
          problems.push(`grafana: the dashboard provider reads ${path}, which is not mounted`);
      }
    }
  }
  return problems;
}

// ───────────────────────── tests

const compose = loadCompose();

let checked: ReturnType<typeof runCheckConfig> | undefined;

/** The gateway config compose mounts, through `check-config` (run once). */
async function composeGatewayConfig(t: Test): Promise<GatewayConfig> {
  if (checked === undefined) checked = runCheckConfig(repoPath("deploy/config/compose.yaml"));
  const result = await checked;
  t.equal(result.code, 0, `check-config accepts deploy/config/compose.yaml ${result.stderr}`);
  return effectiveConfig(result, "deploy/config/compose.yaml");
}

t.test(
  "compose.yaml: valid keys, existing mounts, GPUs, loopback-only extras, everything wired",
  async (t) => {
    const cfg = await composeGatewayConfig(t);
    t.strictSame(composeProblems(compose, cfg), []);

    const repo = loadModelRepository(repoPath(MODEL_REPOSITORY));
    const student = tritonBackend(cfg, cfg.routing.default);
    t.strictSame(
      studentMismatches("compose student", student, repo),
      [],
      "the student backend fits the model repository",
    );
    const tritonCommand = list(compose.services.triton?.command);
    const repoBind = mounts(compose.services.triton ?? {}).binds.find(
      (b) => b.target === flag(tritonCommand, "--model-repository"),
    );
    t.equal(repoBind?.source, MODEL_REPOSITORY, "Triton serves deploy/triton/model_repository");
    t.ok(repoBind?.readOnly, "read-only");
    t.match(
      JSON.stringify(compose.services.triton?.healthcheck?.test),
      new RegExp(`:${flag(tritonCommand, "--http-port")}/v2/health/ready`),
      "Triton's health check: /v2/health/ready on its HTTP port",
    );

    const vllm = compose.services.vllm ?? {};
    t.strictSame(list(vllm.entrypoint), ["vllm", "serve"], "vLLM runs `vllm serve`");
    t.strictSame(
      teacherMismatches("compose teacher", vllmBackend(cfg, "teacher"), parseVllmArgs(list(vllm.command))),
      [],
      "the teacher backend fits vLLM's arguments",
    );
    t.match(JSON.stringify(vllm.healthcheck?.test), /:8000\/health/, "vLLM's health check: /health");
    t.ok(
      durationMs(vllm.healthcheck?.start_period ?? "0s") >= 600_000,
      "vLLM gets ≥ 10 min to load the model",
    );
  },
);

t.test("the vLLM arguments are the same in compose and in k8s", async (t) => {
  const k8s = readFileSync(repoPath("k8s/base/vllm-teacher.yaml"), "utf8");
  const deployment = parse(k8s.split(/^---$/m)[0] ?? "") as {
    spec: { template: { spec: { containers: { args: string[]; image: string }[] } } };
  };
  const container = deployment.spec.template.spec.containers[0]!;
  const normalise = (args: readonly string[]) =>
    args.filter((a) => !a.startsWith("--gpu-memory-utilization"));
  t.strictSame(
    normalise(list(compose.services.vllm?.command)),
    normalise(container.args),
    "same model and flags (GPU share aside)",
  );
  t.equal(compose.services.vllm?.image, container.image, "same vLLM image");
});

t.test("a broken compose file is caught", async (t) => {
  const cfg = await composeGatewayConfig(t);
  const text = readFileSync(repoPath(COMPOSE_FILE), "utf8");
  const broken = (from: string | RegExp, to: string, brokenCfg: GatewayConfig = cfg) => {
    const changed = text.replace(from, to);
    if (changed === text) throw new Error(`the mutation ${String(from)} changed nothing`);
    return composeProblems(loadCompose(changed), brokenCfg).join("\n");
  };
  const edited = (edit: (c: Compose) => void) => {
    const copy = structuredClone(compose);
    edit(copy);
    return composeProblems(copy, cfg).join("\n");
  };
  t.match(
    edited((c) => {
      const triton = c.services.triton!;
      triton.healtcheck = triton.healthcheck;
      delete triton.healthcheck;
    }),
    /triton: unknown key healtcheck/,
    "a misspelt key",
  );
  t.match(
    broken('"127.0.0.1:8080:8080"', '"8080:8080"'),
    /relevance-gateway: port 8080 is published beyond the host's loopback/,
    "the admin port on all interfaces",
  );
  t.match(
    broken('"/etc/relevance-gateway/compose.yaml"', '"/etc/relevance-gateway/composed.yaml"'),
    /--config \/etc\/relevance-gateway\/composed.yaml must be deploy\/config\/compose.yaml/,
    "a config file that is not the one in the repository",
  );
  t.match(
    broken("- ../config:/etc/relevance-gateway:ro", "- ../configs:/etc/relevance-gateway:ro"),
    /mounts deploy\/configs, which does not exist/,
    "a mount of a missing directory",
  );
  t.match(
    broken("- ../prometheus:/etc/prometheus:ro", "- ../prometheus:/etc/prom:ro"),
    /prometheus: nothing is mounted at \/etc\/prometheus/,
    "Prometheus's config not mounted",
  );
  t.match(
    edited((c) => {
      delete c.services.vllm!.deploy;
    }),
    /vllm: no NVIDIA GPU reserved/,
    "vLLM without a GPU",
  );
  t.match(
    broken("- --grpc-port=8001", "- --grpc-port=9001"),
    /backends.student: triton does not listen on 8001/,
    "the gateway dialling a port Triton does not serve",
  );
  const moved = {
    ...cfg,
    backends: { ...cfg.backends, student: { ...tritonBackend(cfg, "student"), endpoints: ["trition:8001"] } },
  };
  t.match(composeProblems(compose, moved).join("\n"), /trition is not a service/, "a misspelt service name");
});
