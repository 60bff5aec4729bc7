/**
 * CPU per ModelInfer call of the Triton backend's HTTP/2 unary client
 * (src/backends/triton/transport.ts) against a grpc-js channel making the same
 * call with the same codec, in interleaved rounds, against the Triton
 * simulator at zero cost in its own process. Only this process's CPU is
 * counted: the client side of the call, which is what the gateway pays.
 *
 * Run: npm run bench:triton-client (BENCH_MS: time per round, default 3000;
 * BENCH_ROUNDS: rounds per client and load, default 5).
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { packBytesTensor } from "../../../backends/triton/codec.js";
import { inferenceMethods } from "../../../backends/triton/kserve-service.js";
import { H2UnaryChannel } from "../../../backends/triton/transport.js";
import type { ModelInferRequestMessage, ModelInferResponseMessage } from "../../../codec/index.js";

const ROUND_MS = Number(process.env.BENCH_MS ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PAIRS = 8;
const method = inferenceMethods.ModelInfer;

type Call = () => Promise<ModelInferResponseMessage>;

function request(): ModelInferRequestMessage {
  const queries = Array.from({ length: PAIRS }, (_, i) => `red running shoes ${i}`);
  const documents = Array.from({ length: PAIRS }, (_, i) => `Title: running shoe model ${i}\nBoards: sport`);
  return {
    modelName: "relevance_student",
    modelVersion: "",
    id: "",
    parameters: {},
    inputs: [
      { name: "QUERY", datatype: "BYTES", shape: [PAIRS, 1], parameters: {}, contents: undefined },
      { name: "DOCUMENT", datatype: "BYTES", shape: [PAIRS, 1], parameters: {}, contents: undefined },
    ],
    outputs: [{ name: "LOGITS", parameters: {} }],
    rawInputContents: [packBytesTensor(queries), packBytesTensor(documents)],
  };
}

function grpcJsCall(target: string): { call: Call; close(): void } {
  // The options the Triton backend used with grpc-js.
  const client = new grpc.Client(target, grpc.credentials.createInsecure(), {
    "grpc.max_send_message_length": 64 * 1024 * 1024,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    "grpc.enable_channelz": 0,
  });
  const call: Call = () =>
    new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request(),
        new grpc.Metadata(),
        { deadline: Date.now() + 10_000 },
        (err, res) => (err || !res ? reject(err ?? new Error("no message")) : resolve(res)),
      );
    });
  return { call, close: () => client.close() };
}

function h2Call(target: string): { call: Call; close(): void } {
  const channel = new H2UnaryChannel({ target, maxMessageBytes: 64 * 1024 * 1024, userAgent: "bench" });
  const call: Call = () =>
    new Promise((resolve, reject) => {
      channel.call(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request(),
        undefined,
        10_000,
        (err, res) => (err || !res ? reject(err ?? new Error("no message")) : resolve(res)),
      );
    });
  return { call, close: () => channel.close() };
}

interface Round {
  readonly cpuUsPerCall: number;
  readonly p50Ms: number;
  readonly callsPerS: number;
}

async function round(call: Call, concurrency: number): Promise<Round> {
  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + ROUND_MS;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const start = performance.now();
        await call();
        latencies.push(performance.now() - start);
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  const elapsedS = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    cpuUsPerCall: (cpu.user + cpu.system) / latencies.length,
    p50Ms: latencies[latencies.length >> 1] ?? Number.NaN,
    callsPerS: latencies.length / elapsedS,
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function startSim(): Promise<{ target: string; stop(): void }> {
  const main = fileURLToPath(new URL("../../../cli/main.ts", import.meta.url));
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      main,
      "sim",
      "triton",
      "--port",
      "0",
      "--metrics-port",
      "0",
      "--base-ms",
      "0",
      "--per-item-ms",
      "0",
      "--instances",
      "8",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const target = await new Promise<string>((resolve, reject) => {
    let out = "";
    // "triton simulator: gRPC 127.0.0.1:PORT, …" on stderr.
    child.stderr.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = /gRPC (?:over TLS )?(\S+?:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) =>
      reject(new Error(`the simulator exited (${code}) before listening: ${out}`)),
    );
  });
  return { target, stop: () => child.kill() };
}

const sim = await startSim();
const clients = { "grpc-js": grpcJsCall(sim.target), h2: h2Call(sim.target) };
try {
  for (const c of Object.values(clients)) for (let i = 0; i < 2000; i++) await c.call(); // warm-up
  console.log(
    `ModelInfer of ${PAIRS} pairs to the Triton simulator (zero cost, own process); ${ROUNDS} interleaved rounds of ${ROUND_MS} ms; client CPU of this process\n`,
  );
  console.log("| concurrency | client | CPU µs/call | p50 ms | calls/s |");
  console.log("|---|---|---|---|---|");
  for (const concurrency of [1, 16]) {
    const results: Record<string, Round[]> = { "grpc-js": [], h2: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, c] of Object.entries(clients)) results[name]!.push(await round(c.call, concurrency));
      process.stderr.write(`concurrency ${concurrency}: round ${r + 1}/${ROUNDS}\n`);
    }
    const med = (name: string, k: keyof Round) => median(results[name]!.map((x) => x[k]));
    for (const name of Object.keys(clients)) {
      console.log(
        `| ${concurrency} | ${name} | ${med(name, "cpuUsPerCall").toFixed(0)} | ${med(name, "p50Ms").toFixed(2)} | ${med(name, "callsPerS").toFixed(0)} |`,
      );
    }
    const ratios = results.h2!.map((x, i) => x.cpuUsPerCall / results["grpc-js"]![i]!.cpuUsPerCall);
    console.log(
      `| ${concurrency} | h2 ÷ grpc-js CPU per call (median of per-round ratios) | ${median(ratios).toFixed(2)} | | |`,
    );
  }
} finally {
  for (const c of Object.values(clients)) c.close();
  sim.stop();
}
