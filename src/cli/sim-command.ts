/**
 * The `sim` subcommand's declaration: the two simulators' long list of options (costs, limits,
 * TLS, fault injection), kept apart from commands.ts only for its length. Like commands.ts, it
 * imports types only, so `serve` loads no simulator code.
 */

import { type CommandSpec, flagsAs } from "./command-spec.js";
import type { TritonSimFlags, VllmSimFlags } from "./sim.js";

const SIM_TRITON = "triton simulator options:";
const SIM_VLLM = "vllm simulator options:";
const SIM_TLS = "TLS (both simulators; default plaintext):";
const SIM_FAULTS = "fault injection (both simulators; see docs/fault-injection.md):";

export const SIM_COMMAND: CommandSpec = {
  name: "sim",
  summary: "run the Triton (KServe v2 gRPC) or vLLM (OpenAI-compatible HTTP) simulator",
  description:
    "Serves until SIGTERM or SIGINT. Faults can be changed at run time with GET/PUT/DELETE " +
    "/sim/faults, on the metrics port for triton and on the HTTP port for vllm.",
  arguments: [{ name: "<kind>", description: "which simulator", choices: ["triton", "vllm"] }],
  options: [
    { flags: "--host <host>", description: "listen address", default: "127.0.0.1" },
    {
      flags: "--port <n>",
      description: "gRPC port (triton) or HTTP port (vllm)",
      defaultBy: { on: "<kind>", values: { triton: "8001", vllm: "8000" } },
    },
    {
      flags: "--model <name>",
      description: "model name (triton) or served model id (vllm)",
      defaultBy: { on: "<kind>", values: { triton: "relevance_student", vllm: "relevance-teacher" } },
    },
    {
      flags: "--metrics-port <n>",
      description: "HTTP /metrics port; 0 = any free port",
      default: "8002",
      group: SIM_TRITON,
    },
    {
      flags: "--max-batch-size <n>",
      description: "the model's max_batch_size",
      default: "64",
      group: SIM_TRITON,
    },
    { flags: "--base-ms <ms>", description: "fixed cost per batch", default: "2", group: SIM_TRITON },
    {
      flags: "--per-item-ms <ms>",
      description: "cost per item in a batch",
      default: "0.02",
      group: SIM_TRITON,
    },
    { flags: "--instances <n>", description: "batches executing at once", default: "1", group: SIM_TRITON },
    {
      flags: "--merge-queued",
      description:
        "a freed instance takes queued calls together, up to max_batch_size (Triton's dynamic batcher)",
      group: SIM_TRITON,
    },
    {
      flags: "--tls-client-ca <file>",
      description: "with TLS: require client certificates signed by this CA (PEM)",
      group: SIM_TRITON,
    },
    {
      flags: "--max-model-len <n>",
      description: "context length in tokens",
      default: "2048",
      group: SIM_VLLM,
    },
    {
      flags: "--max-num-seqs <n>",
      description: "sequences running at once; the rest wait",
      default: "64",
      group: SIM_VLLM,
    },
    {
      flags: "--scheduling-policy <policy>",
      description: "fcfs (vLLM's default: any priority but 0 is refused) or priority (lowest first)",
      default: "fcfs",
      group: SIM_VLLM,
    },
    {
      flags: "--api-key-env <name>",
      description: "require the API key in env variable NAME on /v1 routes, as vllm --api-key",
      group: SIM_VLLM,
    },
    {
      flags: "--tls-cert <file>",
      description: "serve TLS with this PEM certificate (chain)",
      group: SIM_TLS,
    },
    { flags: "--tls-key <file>", description: "and this PEM private key", group: SIM_TLS },
    {
      flags: "--error-rate <r>",
      description: "share of scoring calls (0..1) answered with an error",
      group: SIM_FAULTS,
    },
    {
      flags: "--added-latency-ms <ms>",
      description: "added to every scoring call's latency",
      group: SIM_FAULTS,
    },
    {
      flags: "--hang-rate <r>",
      description: "share of calls accepted and never answered until faults are cleared",
      group: SIM_FAULTS,
    },
    {
      flags: "--malformed-rate <r>",
      description: "share of calls answered with a malformed body",
      group: SIM_FAULTS,
    },
    {
      flags: "--malformed <kind>",
      description:
        "triton: missing-output (default), wrong-shape, wrong-datatype, short-raw; " +
        "vllm: bad-json (default), wrong-shape, missing-items",
      group: SIM_FAULTS,
    },
    {
      flags: "--reset-rate <r>",
      description: "share of calls whose connection is reset",
      group: SIM_FAULTS,
    },
    {
      flags: "--slow-rate <r>",
      description: "share of calls delayed by --slow-ms, spread evenly (a gray failure)",
      group: SIM_FAULTS,
    },
    { flags: "--slow-ms <ms>", description: "the delay of a --slow-rate call", group: SIM_FAULTS },
    {
      flags: "--poison-marker <text>",
      description:
        "a call with TEXT in a document fails as the model rejecting that input " +
        "(triton: INTERNAL from the Python backend; vllm: HTTP 400)",
      group: SIM_FAULTS,
    },
    {
      flags: "--fail-all",
      description: "every scoring call fails as on a sick GPU (triton: INTERNAL; vllm: HTTP 500)",
      group: SIM_FAULTS,
    },
    {
      flags: "--fault-seed <n>",
      description: "seed of the fault PRNG, for reproducible runs",
      default: "1",
      group: SIM_FAULTS,
    },
  ],
  examples: [
    "relevance-gateway sim triton --port 8001 --metrics-port 8002 --max-batch-size 64",
    "relevance-gateway sim vllm --port 8000 --max-num-seqs 64 --error-rate 0.1",
  ],
  run: async ([kind], flags) => {
    const { runSim } = await import("./sim.js");
    const sim = await runSim(kind, flagsAs<TritonSimFlags & VllmSimFlags>(flags));
    await new Promise<void>((resolve) => {
      const stop = () => sim.close().then(resolve, resolve);
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
  },
};
