import type { Test } from "tap";
import { validateConfig } from "../../src/config/index.js";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { type Logger, silentLogger } from "../../src/observability/logger.js";
import { createTritonSim, type TritonSim, type TritonSimOptions } from "../../src/tools/sim/triton/server.js";
import { createVllmSim, type VllmSim, type VllmSimOptions } from "../../src/tools/sim/vllm/server.js";
import type { Clock } from "../../src/util/clock.js";
import { ScoreClient } from "./grpc-client.js";

export interface Stack {
  readonly sim: TritonSim;
  /** Every student simulator (the first is `sim`). */
  readonly sims: readonly TritonSim[];
  /** The vLLM simulator, when the stack has a teacher. */
  readonly teacherSim: VllmSim | undefined;
  readonly gateway: Gateway;
  readonly target: string;
  readonly adminUrl: string;
  readonly client: ScoreClient;
  /** Text of the admin /metrics endpoint. */
  metricsText(): Promise<string>;
}

type Batching = Record<string, number | number[]>;

/**
 * A Triton simulator and a gateway in front of it, on loopback ports chosen by
 * the OS; all of it is closed when the test ends.
 */
export async function useGateway(
  t: Test,
  opts: {
    sim?: TritonSimOptions;
    batching?: Batching;
    /** Adds a vLLM teacher backend named "teacher" in front of a vLLM simulator. */
    teacher?: { mode?: "classify" | "generate"; sim?: VllmSimOptions; backend?: Record<string, unknown> };
    config?: Record<string, unknown>;
    /** Student simulators (endpoints of the student backend); default 1. */
    students?: number;
    /** Extra keys of the student backend's config (breaker, retry, timeoutMs, …). */
    student?: Record<string, unknown>;
    /** The admin API's token; default none (admin writes disabled). */
    adminToken?: string;
    /** Default: silent. */
    logger?: Logger;
    /** The gateway's clock; default the system clock. */
    clock?: Clock;
  } = {},
): Promise<Stack> {
  const sims = await Promise.all(
    Array.from({ length: opts.students ?? 1 }, () => createTritonSim({ port: 0, ...opts.sim })),
  );
  const sim = sims[0]!;
  const teacherSim = opts.teacher ? await createVllmSim({ port: 0, ...opts.teacher.sim }) : undefined;
  const teacherBackend = teacherSim
    ? {
        teacher: {
          kind: "vllm",
          endpoints: [teacherSim.url],
          model: "relevance-teacher",
          mode: opts.teacher?.mode ?? "classify",
          // A loaded machine must not fail probes; a stopped teacher is noticed by its failing calls too.
          readiness: { intervalMs: 1000, timeoutMs: 1000 },
          ...opts.teacher?.backend,
        },
      }
    : {};
  const cfg = validateConfig({
    server: { grpc: { host: "127.0.0.1", port: 0 }, admin: { host: "127.0.0.1", port: 0 } },
    backends: {
      student: {
        kind: "triton",
        endpoints: sims.map((s) => s.address),
        model: "relevance_student",
        batching: { maxBatchSize: 64, maxQueueDelayMs: 2, ...opts.batching },
        ...opts.student,
      },
      ...teacherBackend,
    },
    routing: { default: "student" },
    logging: { level: "silent" },
    metrics: { collectDefault: false },
    ...opts.config,
  });
  const gateway = createGateway(cfg, {
    logger: opts.logger ?? silentLogger(),
    adminToken: () => opts.adminToken,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const { grpcPort, adminPort } = await gateway.start();
  const client = new ScoreClient(`127.0.0.1:${grpcPort}`);
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  t.teardown(async () => {
    client.close();
    await gateway.shutdown();
    await Promise.all(sims.map((s) => s.close()));
    await teacherSim?.close();
  });
  return {
    sim,
    sims,
    teacherSim,
    gateway,
    target: `127.0.0.1:${grpcPort}`,
    adminUrl,
    client,
    metricsText: async () => (await fetch(`${adminUrl}/metrics`)).text(),
  };
}

/** Sum and count of a Prometheus histogram series in exposition text. */
export function histogramTotals(text: string, name: string, labels = ""): { sum: number; count: number } {
  const pick = (suffix: string) => {
    const re = new RegExp(`^${name}_${suffix}\\{?${labels.replace(/[{}]/g, "")}[^\\n]*\\}? (\\S+)$`, "m");
    const m = re.exec(text);
    return m ? Number(m[1]) : Number.NaN;
  };
  return { sum: pick("sum"), count: pick("count") };
}
