// Acceptance (issue 7, "Kubernetes manifests"): every manifest under k8s/ and the kustomize output of
// both overlays match the Kubernetes (and prometheus-operator) schemas; a broken manifest fails that
// check; the rendered ConfigMap's gateway config passes `relevance-gateway check-config`; and the
// pieces agree with each other: probes and ports, the shutdown timings, the Secret and ConfigMap
// mounts, the Triton model repository and the vLLM arguments the gateway config targets.
//
// Rendering uses Debian's kubectl 1.20 (test/deploy/kustomize.ts); without it these tests fail.
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  type IServiceMonitor,
  ServiceMonitor,
} from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { Deployment, type IDeployment } from "kubernetes-models/apps/v1/Deployment";
import {
  HorizontalPodAutoscaler,
  type IHorizontalPodAutoscaler,
} from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import type { IMetricSpec } from "kubernetes-models/autoscaling/v2/MetricSpec";
import { type INetworkPolicy, NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import {
  type IPodDisruptionBudget,
  PodDisruptionBudget,
} from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap, type IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IPodSpec } from "kubernetes-models/v1/PodSpec";
import { type IService, Service } from "kubernetes-models/v1/Service";
import t from "tap";
import { parse } from "yaml";
import type { GatewayConfig } from "../../src/config/index.js";
import { createMetrics } from "../../src/observability/metrics.js";
import {
  effectiveConfig,
  loadModelRepository,
  MODEL_REPOSITORY,
  parseVllmArgs,
  readYamlDocuments,
  repoPath,
  runCheckConfig,
  studentMismatches,
  teacherMismatches,
  tritonBackend,
  vllmBackend,
  yamlDocuments,
} from "./deploy-helpers.js";
import { isKubeObject, type KubeObject, type Manifest, schemaProblems } from "./k8s-schema.js";
import { debianKubectl, kustomize } from "./kustomize.js";

const OVERLAYS = { dev: "search-dev", prod: "search" } as const;
type Overlay = keyof typeof OVERLAYS;

const GATEWAY = "relevance-gateway";
const TRITON = "triton-student";
const VLLM = "vllm-teacher";

// ───────────────────────── rendering, once per overlay

let renderer: Promise<string> | undefined;
const renders = new Map<Overlay, Promise<KubeObject[]>>();

/** Debian's kubectl, located and version-checked once. */
function kubectlTool(): Promise<string> {
  if (renderer === undefined) renderer = debianKubectl();
  return renderer;
}

function render(overlay: Overlay): Promise<KubeObject[]> {
  let rendered = renders.get(overlay);
  if (rendered === undefined) {
    rendered = kubectlTool().then(async (kubectl) => {
      const text = await kustomize(kubectl, repoPath(`k8s/overlays/${overlay}`));
      return yamlDocuments(text, `kustomize ${overlay}`).map((doc, i) => {
        if (!isKubeObject(doc))
          throw new Error(`kustomize ${overlay}: document ${i} is not a Kubernetes object`);
        return doc;
      });
    });
    renders.set(overlay, rendered);
  }
  return rendered;
}

function one<T extends KubeObject>(
  objects: readonly KubeObject[],
  is: (o: unknown) => o is T,
  name: string,
): T {
  const found = objects.filter((o): o is T => is(o) && o.metadata?.name === name);
  if (found.length !== 1) throw new Error(`expected one ${name} of that kind, found ${found.length}`);
  return found[0]!;
}

function all<T extends KubeObject>(objects: readonly KubeObject[], is: (o: unknown) => o is T): T[] {
  return objects.filter(is);
}

// kubernetes-models' guards check apiVersion and kind; KubeObject's index signature makes the
// interfaces compatible with it.
const isDeployment = (o: unknown): o is IDeployment & KubeObject => Deployment.is(o);
const isService = (o: unknown): o is IService & KubeObject => Service.is(o);
const isHpa = (o: unknown): o is IHorizontalPodAutoscaler & KubeObject => HorizontalPodAutoscaler.is(o);
const isPdb = (o: unknown): o is IPodDisruptionBudget & KubeObject => PodDisruptionBudget.is(o);
const isConfigMap = (o: unknown): o is IConfigMap & KubeObject => ConfigMap.is(o);
const isNetworkPolicy = (o: unknown): o is INetworkPolicy & KubeObject => NetworkPolicy.is(o);
const isServiceMonitor = (o: unknown): o is IServiceMonitor & KubeObject => ServiceMonitor.is(o);

function podSpec(d: IDeployment): IPodSpec {
  const spec = d.spec?.template.spec;
  if (spec === undefined) throw new Error(`Deployment ${d.metadata?.name}: no pod spec`);
  return spec;
}

function container(d: IDeployment, name: string): IContainer {
  const c = podSpec(d).containers.find((x) => x.name === name);
  if (c === undefined) throw new Error(`Deployment ${d.metadata?.name}: no container ${name}`);
  return c;
}

function containerPort(c: IContainer, name: string): number | undefined {
  return c.ports?.find((p) => p.name === name)?.containerPort;
}

/** `--name=value` from a container's args. */
function argValue(c: IContainer, name: string): string | undefined {
  const prefix = `${name}=`;
  return c.args?.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

function selects(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  if (selector === undefined || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

// ───────────────────────── the manifests as files

/** Complete objects in k8s/ (not kustomizations, not overlay patches, not gateway configs). */
function manifestFiles(): string[] {
  const base = readdirSync(repoPath("k8s/base"))
    .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
    .map((f) => `k8s/base/${f}`);
  return [...base, "k8s/overlays/dev/namespace.yaml"];
}

function fileManifests(): Manifest[] {
  return manifestFiles().flatMap((file) =>
    readYamlDocuments(repoPath(file)).map((doc, i) => {
      if (!isKubeObject(doc)) throw new Error(`${file}: document ${i} is not a Kubernetes object`);
      return { where: `${file}#${i} ${doc.kind}/${doc.metadata?.name ?? ""}`, object: doc };
    }),
  );
}

t.test("the kustomize renderer is Debian's kubectl 1.20 (CI installs it; never skipped)", async (t) => {
  const kubectl = await kubectlTool();
  t.match(kubectl, /kubernetes-client/, "the unpacked Debian package, not another kubectl on PATH");
});

t.test("every manifest and both overlays' output match the Kubernetes schemas", async (t) => {
  const manifests: Manifest[] = fileManifests();
  for (const overlay of Object.keys(OVERLAYS) as Overlay[]) {
    const objects = await render(overlay);
    t.ok(objects.length > 10, `${overlay} renders ${objects.length} objects`);
    manifests.push(
      ...objects.map((o) => ({
        where: `kustomize ${overlay}: ${o.kind}/${o.metadata?.name ?? ""}`,
        object: o,
      })),
    );
  }
  t.strictSame(schemaProblems(manifests), [], `${manifests.length} objects, no schema problems`);
});

t.test("a broken manifest fails the checks", async (t) => {
  const objects = await render("prod");
  type Editable = { spec: { template: { spec: { containers: Record<string, unknown>[] } } } };
  const brokenGateway = (where: string, mutate: (d: Editable) => void): Manifest => {
    const copy = structuredClone(one(objects, isDeployment, GATEWAY)) as unknown as Editable;
    mutate(copy);
    return { where, object: copy as unknown as KubeObject };
  };
  const monitor = structuredClone(one(objects, isServiceMonitor, GATEWAY)) as unknown as {
    spec: { endpoints: { interval?: string }[] };
  };
  monitor.spec.endpoints[0]!.interval = "every 15 seconds";
  // One schemaProblems call (one TypeScript program) for all of them.
  const problems = schemaProblems([
    brokenGateway("string port", (d) => {
      d.spec.template.spec.containers[0]!.ports = [{ name: "grpc", containerPort: "fifty" }];
    }),
    brokenGateway("misspelt field", (d) => {
      const c = d.spec.template.spec.containers[0]!;
      c.readinesProbe = c.readinessProbe;
      delete c.readinessProbe;
    }),
    brokenGateway("no containers", (d) => {
      delete (d.spec.template.spec as Record<string, unknown>).containers;
    }),
    { where: "bad interval", object: monitor as unknown as KubeObject },
  ]);
  const expect = (where: string, pattern: RegExp, what: string) =>
    t.ok(
      problems.some((p) => p.where === where && pattern.test(p.message)),
      what,
      { problems: problems.filter((p) => p.where === where) },
    );
  expect("string port", /containerPort must be integer/, "a string port is rejected by the validator");
  expect(
    "misspelt field",
    /'readinesProbe' does not exist in type 'IContainer'/,
    "a misspelt field is rejected",
  );
  expect("no containers", /must have required property containers/, "a missing required field is rejected");
  expect("bad interval", /interval must match pattern/, "the prometheus-operator CRD schema is enforced too");

  // And a kustomization that patches an object the base does not have does not render at all.
  const dir = mkdtempSync(join(tmpdir(), "rg-k8s-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(repoPath("k8s"), join(dir, "k8s"), { recursive: true });
  const overlay = join(dir, "k8s/overlays/prod");
  writeFileSync(
    join(overlay, "vllm-teacher.yaml"),
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: vllm-teachr\n",
  );
  const kubectl = await kubectlTool();
  await t.rejects(
    kustomize(kubectl, overlay),
    /kubectl kustomize .* failed/,
    "kustomize rejects the dangling patch",
  );
});

for (const overlay of Object.keys(OVERLAYS) as Overlay[]) {
  const namespace = OVERLAYS[overlay];

  t.test(`${overlay}: what renders, and that it fits together`, async (t) => {
    const objects = await render(overlay);
    for (const o of objects) {
      if (o.kind !== "Namespace")
        t.equal(o.metadata?.namespace, namespace, `${o.kind}/${o.metadata?.name} is in ${namespace}`);
    }

    // The gateway config, from the rendered ConfigMap, through the real CLI.
    const configMap = one(objects, isConfigMap, `${GATEWAY}-config`);
    const configText = configMap.data?.["gateway.yaml"];
    if (configText === undefined) throw new Error("the ConfigMap has no gateway.yaml");
    const dir = mkdtempSync(join(tmpdir(), "rg-k8s-config-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "gateway.yaml");
    writeFileSync(file, configText);
    const checked = await runCheckConfig(file);
    t.equal(checked.code, 0, `check-config accepts the ConfigMap's gateway.yaml ${checked.stderr}`);
    const cfg: GatewayConfig = effectiveConfig(checked, `${overlay} ConfigMap`);

    const deployments = all(objects, isDeployment);
    t.strictSame(
      deployments.map((d) => d.metadata?.name).sort(),
      [GATEWAY, TRITON, VLLM],
      "three Deployments",
    );
    const gpuWorkloads = deployments.filter((d) =>
      podSpec(d).containers.some((c) => c.resources?.limits?.["nvidia.com/gpu"] !== undefined),
    );
    t.strictSame(gpuWorkloads.map((d) => d.metadata?.name).sort(), [TRITON, VLLM], "two GPU workloads");

    for (const d of deployments) {
      const pod = podSpec(d);
      const name = d.metadata?.name ?? "";
      t.equal(pod.securityContext?.runAsNonRoot, true, `${name}: runAsNonRoot`);
      t.equal(pod.securityContext?.seccompProfile?.type, "RuntimeDefault", `${name}: seccomp RuntimeDefault`);
      t.equal(pod.automountServiceAccountToken, false, `${name}: no API token mounted`);
      t.ok(
        selects(d.spec?.selector.matchLabels, d.spec?.template.metadata?.labels),
        `${name}: selector matches its pods`,
      );
      for (const c of pod.containers) {
        const where = `${name}/${c.name}`;
        t.ok(c.readinessProbe, `${where}: readiness probe`);
        t.ok(c.livenessProbe, `${where}: liveness probe`);
        t.ok(
          c.resources?.requests?.cpu !== undefined && c.resources.requests.memory !== undefined,
          `${where}: cpu and memory requests`,
        );
        t.ok(c.resources?.limits?.memory !== undefined, `${where}: a memory limit`);
        const gpuLimit = c.resources?.limits?.["nvidia.com/gpu"];
        if (gpuLimit !== undefined)
          t.equal(
            String(c.resources?.requests?.["nvidia.com/gpu"] ?? gpuLimit),
            String(gpuLimit),
            `${where}: GPU request = limit`,
          );
        t.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}: no privilege escalation`);
        t.strictSame(c.securityContext?.capabilities?.drop, ["ALL"], `${where}: drops ALL capabilities`);
        t.notOk(c.securityContext?.privileged, `${where}: not privileged`);
        t.ok(c.lifecycle?.preStop?.sleep?.seconds !== undefined, `${where}: preStop sleep`);
        const grace = pod.terminationGracePeriodSeconds ?? 30;
        t.ok(grace > (c.lifecycle?.preStop?.sleep?.seconds ?? 0), `${where}: grace period outlasts preStop`);
      }
    }

    // ── gateway Deployment ↔ its config
    const gateway = one(objects, isDeployment, GATEWAY);
    const gw = container(gateway, "gateway");
    const gwPod = podSpec(gateway);
    t.equal(gateway.spec?.replicas, undefined, "no replicas: the HPA owns the count");
    t.equal(gw.securityContext?.readOnlyRootFilesystem, true, "gateway: read-only root filesystem");
    t.ok((gwPod.topologySpreadConstraints ?? []).length > 0, "gateway: topology spread");
    t.equal(containerPort(gw, "grpc"), cfg.server.grpc.port, "container port grpc = server.grpc.port");
    t.equal(containerPort(gw, "admin"), cfg.server.admin.port, "container port admin = server.admin.port");
    t.equal(
      gw.readinessProbe?.grpc?.port,
      cfg.server.grpc.port,
      "readiness: grpc.health.v1 on the gRPC port",
    );
    t.equal(gw.livenessProbe?.httpGet?.path, "/healthz", "liveness: /healthz");
    t.equal(gw.livenessProbe?.httpGet?.port, "admin", "liveness: on the admin port");
    const preStopS = gw.lifecycle?.preStop?.sleep?.seconds ?? 0;
    const graceS = gwPod.terminationGracePeriodSeconds ?? 30;
    t.ok(
      graceS > preStopS + cfg.server.shutdownGraceMs / 1000,
      `terminationGracePeriodSeconds ${graceS} > preStop ${preStopS} s + shutdownGraceMs ${cfg.server.shutdownGraceMs} ms`,
    );

    const configArg = gw.args?.[gw.args.indexOf("--config") + 1];
    const configMount = gw.volumeMounts?.find((m) => m.mountPath === dirname(configArg ?? "/"));
    t.ok(
      configArg?.endsWith("/gateway.yaml") && configMount,
      `--config ${configArg} is in a mounted directory`,
    );
    t.equal(
      configMount?.subPath,
      undefined,
      "the ConfigMap is mounted as a directory (subPath mounts never update)",
    );
    const configVolume = gwPod.volumes?.find((v) => v.name === configMount?.name);
    t.equal(
      configVolume?.configMap?.name,
      configMap.metadata?.name,
      "the mounted ConfigMap is the rendered one",
    );
    t.equal(cfg.server.reload.watchFile, true, "server.reload.watchFile: ConfigMap updates apply live");

    const tokenFile = cfg.server.admin.tokenFile;
    t.ok(tokenFile, "server.admin.tokenFile is set");
    const tokenMount = gw.volumeMounts?.find((m) => m.mountPath === dirname(tokenFile ?? "/"));
    const tokenVolume = gwPod.volumes?.find((v) => v.name === tokenMount?.name);
    t.equal(
      tokenVolume?.secret?.secretName,
      `${GATEWAY}-admin-token`,
      "tokenFile's directory is the admin-token Secret",
    );
    const secrets = objects.filter((o) => o.kind === "Secret").map((o) => o.metadata?.name);
    if (overlay === "dev")
      t.strictSame(secrets, [`${GATEWAY}-admin-token`], "dev generates its admin-token Secret");
    else t.strictSame(secrets, [], "prod commits no Secret: it references one created outside git");

    // ── Services: the client-facing one carries gRPC only; Prometheus gets the admin port elsewhere
    const services = all(objects, isService);
    for (const s of services) {
      const name = s.metadata?.name ?? "";
      const backing = deployments.find((d) => selects(s.spec?.selector, d.spec?.template.metadata?.labels));
      t.ok(backing, `Service ${name} selects a Deployment's pods`);
      for (const p of s.spec?.ports ?? []) {
        const target = p.targetPort ?? p.port;
        const ports = podSpec(backing!).containers.flatMap((c) => c.ports ?? []);
        t.ok(
          ports.some((cp) => cp.name === target || cp.containerPort === target),
          `Service ${name} port ${p.name}: target ${target} exists`,
        );
      }
    }
    const client = one(objects, isService, GATEWAY);
    const clientPorts = client.spec?.ports ?? [];
    t.strictSame(
      clientPorts.map((p) => p.port),
      [cfg.server.grpc.port],
      "client Service: only the gRPC port",
    );
    t.ok(
      clientPorts.every((p) => p.appProtocol === "kubernetes.io/h2c" || p.appProtocol === "grpc"),
      "client Service: appProtocol says HTTP/2 cleartext",
    );
    for (const s of services.filter((x) => x.metadata?.name?.startsWith(GATEWAY))) {
      const exposesAdmin = (s.spec?.ports ?? []).some(
        (p) => p.targetPort === "admin" || p.port === cfg.server.admin.port,
      );
      t.equal(
        exposesAdmin,
        s.metadata?.name === `${GATEWAY}-metrics`,
        `Service ${s.metadata?.name}: admin port only on the metrics Service`,
      );
    }

    const monitor = one(objects, isServiceMonitor, GATEWAY);
    const scraped = services.filter((s) => selects(monitor.spec.selector.matchLabels, s.metadata?.labels));
    t.strictSame(
      scraped.map((s) => s.metadata?.name),
      [`${GATEWAY}-metrics`],
      "the ServiceMonitor scrapes the metrics Service only",
    );
    t.ok(
      scraped[0]?.spec?.ports?.some((p) => p.name === monitor.spec.endpoints?.[0]?.port),
      "the ServiceMonitor's port is on that Service",
    );
    t.equal(
      scraped[0]?.metadata?.labels?.[monitor.spec.jobLabel ?? ""],
      GATEWAY,
      'job label: job="relevance-gateway", as the alerts and dashboard expect',
    );

    // ── HPA, PDB
    const hpa = one(objects, isHpa, GATEWAY);
    t.equal(hpa.spec?.scaleTargetRef.name, GATEWAY, "the HPA scales the gateway");
    t.ok(
      hpa.spec?.metrics?.some((m) => m.resource?.name === "cpu"),
      "the HPA scales on CPU",
    );
    for (const name of [GATEWAY, TRITON, VLLM]) {
      const pdb = one(objects, isPdb, name);
      const d = one(objects, isDeployment, name);
      t.ok(
        selects(pdb.spec?.selector?.matchLabels, d.spec?.template.metadata?.labels),
        `PDB ${name} selects its pods`,
      );
    }

    // ── NetworkPolicy: the admin port only from the monitoring namespace
    const policy = one(objects, isNetworkPolicy, GATEWAY);
    const adminRules = (policy.spec?.ingress ?? []).filter((r) =>
      (r.ports ?? []).some((p) => p.port === cfg.server.admin.port || p.port === "admin"),
    );
    t.ok(
      adminRules.length > 0 &&
        adminRules.every(
          (r) => (r.from ?? []).length > 0 && r.from!.every((f) => f.namespaceSelector !== undefined),
        ),
      "the admin port is reachable only from a selected namespace",
    );

    // ── Triton: the gateway's endpoints, the Service, the server's ports and the model repository
    const triton = one(objects, isDeployment, TRITON);
    const tc = container(triton, "triton");
    const tritonService = one(objects, isService, TRITON);
    t.equal(tritonService.spec?.clusterIP, "None", "Triton's Service is headless");
    const grpcPort = Number(argValue(tc, "--grpc-port"));
    t.equal(containerPort(tc, "grpc"), grpcPort, "container port grpc = --grpc-port");
    t.strictSame(
      tc.ports?.map((p) => p.containerPort),
      [8000, 8001, 8002],
      "Triton ports: HTTP 8000, gRPC 8001, metrics 8002",
    );
    t.equal(tc.readinessProbe?.httpGet?.path, "/v2/health/ready", "Triton readiness: /v2/health/ready");
    t.equal(tc.livenessProbe?.httpGet?.path, "/v2/health/live", "Triton liveness: /v2/health/live");
    t.equal(
      containerPort(tc, "http"),
      Number(argValue(tc, "--http-port")),
      "probes' http port = --http-port",
    );
    const repoMount = tc.volumeMounts?.find((m) => m.mountPath === argValue(tc, "--model-repository"));
    t.ok(repoMount?.readOnly, "the model repository volume is mounted read-only at --model-repository");
    const student = tritonBackend(cfg, cfg.routing.default);
    t.strictSame(
      student.endpoints,
      [`dns:///${TRITON}.${namespace}.svc.cluster.local:${grpcPort}`],
      "student endpoint: every Triton pod through the headless Service",
    );
    const tritonPreStop = tc.lifecycle?.preStop?.sleep?.seconds ?? 0;
    t.ok(
      tritonPreStop * 1000 > student.discovery.intervalMs,
      `Triton's preStop (${tritonPreStop} s) outlasts the gateway's DNS re-resolution (${student.discovery.intervalMs} ms)`,
    );
    const exitTimeout = Number(argValue(tc, "--exit-timeout-secs") ?? 30);
    t.ok(
      (podSpec(triton).terminationGracePeriodSeconds ?? 30) > tritonPreStop + exitTimeout,
      "Triton's grace period > preStop + --exit-timeout-secs",
    );
    const repo = loadModelRepository(repoPath(MODEL_REPOSITORY));
    t.strictSame(
      studentMismatches(`${overlay} student`, student, repo),
      [],
      "the student backend fits the model repository",
    );
    const hpaMax = hpa.spec?.maxReplicas ?? 0;
    for (const step of repo.get(student.model)?.ensembleSteps ?? []) {
      const queue = repo.get(step.modelName)?.dynamicBatching?.defaultQueuePolicy?.maxQueueSize ?? 0;
      t.ok(
        queue === 0 || hpaMax * student.batching.maxConcurrentBatches <= queue,
        `${step.modelName}: max_queue_size ${queue} holds ${hpaMax} gateways × ${student.batching.maxConcurrentBatches} batches`,
      );
    }

    // ── vLLM: the served model and its limits
    const vllm = one(objects, isDeployment, VLLM);
    const vc = container(vllm, "vllm");
    const teacher = vllmBackend(cfg, "teacher");
    t.strictSame(vc.command, ["vllm", "serve"], "vLLM runs `vllm serve`");
    t.strictSame(
      teacherMismatches(`${overlay} teacher`, teacher, parseVllmArgs(vc.args ?? [])),
      [],
      "the teacher backend fits vLLM's arguments",
    );
    t.strictSame(
      teacher.endpoints,
      [`dns+http://${VLLM}.${namespace}.svc.cluster.local:${containerPort(vc, "http")}`],
      "teacher endpoint: every vLLM pod",
    );
    t.equal(one(objects, isService, VLLM).spec?.clusterIP, "None", "vLLM's Service is headless");
    const startup = vc.startupProbe;
    t.equal(startup?.httpGet?.path, "/health", "vLLM startup probe: /health");
    t.ok(
      (startup?.periodSeconds ?? 10) * (startup?.failureThreshold ?? 3) >= 600,
      "vLLM startup probe waits ≥ 10 min for the model to load",
    );
    t.equal(vc.readinessProbe?.httpGet?.path, "/health", "vLLM readiness: /health");
    t.ok(
      (podSpec(vllm).terminationGracePeriodSeconds ?? 30) >=
        (vc.lifecycle?.preStop?.sleep?.seconds ?? 0) + teacher.timeoutMs / 1000,
      "vLLM's grace period covers preStop plus the gateway's vLLM timeoutMs (requests in flight finish)",
    );
    t.ok(
      vc.env?.some((e) => e.name === "HF_TOKEN" && e.valueFrom?.secretKeyRef?.name === "hf-token"),
      "HF token from a Secret",
    );
  });
}

t.test("the HPA's commented queue-depth option is a valid metric on a gateway metric", async (t) => {
  const text = readFileSync(repoPath("k8s/base/gateway-scaling.yaml"), "utf8");
  const block = /# >>> queue-depth metric\n((?:\s*#.*\n)*?)\s*# <<< queue-depth metric/.exec(text);
  t.ok(block, "the commented block is there, between its markers");
  const uncommented = (block?.[1] ?? "")
    .split("\n")
    .map((line) => line.replace(/^(\s*)# /, "$1").replace(/^(\s*)#$/, "$1"))
    .join("\n");
  const metrics = parse(uncommented) as IMetricSpec[];
  t.equal(metrics.length, 1, "one metric");
  const hpa = readYamlDocuments(repoPath("k8s/base/gateway-scaling.yaml")).find((d) =>
    HorizontalPodAutoscaler.is(d),
  );
  if (hpa === undefined) throw new Error("no HPA in gateway-scaling.yaml");
  const withMetric = structuredClone(hpa) as IHorizontalPodAutoscaler & KubeObject;
  withMetric.spec?.metrics?.push(...metrics);
  t.strictSame(
    schemaProblems([{ where: "HPA with the queue-depth metric", object: withMetric }]),
    [],
    "the HPA stays valid",
  );
  const name = metrics[0]?.pods?.metric.name ?? "";
  const registry = createMetrics({ collectDefault: false }).registry;
  const exported = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  t.equal(exported?.type, "gauge", `${name} is a gauge the gateway exports`);
});
