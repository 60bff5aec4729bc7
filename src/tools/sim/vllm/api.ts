/**
 * The vLLM simulator's public interface: its options, stats and handle
 * (implemented in server.ts, which re-exports all three).
 */
import type { Logger } from "pino";
import type { Clock } from "../../../util/clock.js";
import type { FaultKind, FaultSpec } from "../faults.js";
import type { ReceivedTrace } from "../received-traces.js";
import type { VllmSimCost } from "./scheduler.js";

export interface VllmSimOptions {
  /** Default "127.0.0.1". */
  host?: string;
  /** Default 8000; 0 picks a free port. */
  port?: number;
  /** The served model name (`--served-model-name`); default "relevance-teacher". */
  model?: string;
  /** `--max-model-len`, in simulated tokens; default 2048. */
  maxModelLen?: number;
  /** `--max-num-seqs`: sequences running at once; default 64. */
  maxNumSeqs?: number;
  /**
   * `--scheduling-policy`: "fcfs" (default, vLLM's) refuses any `priority`
   * but 0; "priority" admits waiting sequences lowest `priority` first.
   */
  schedulingPolicy?: "fcfs" | "priority";
  /** `--max-num-batched-tokens`: tokens per engine step; default 8192. */
  maxNumBatchedTokens?: number;
  /** Default { stepMs: 4, perSeqMs: 0.05, prefillMsPerToken: 0.002 }; partial values fill from it. */
  cost?: Partial<VllmSimCost>;
  /**
   * The model config's `id2label` (as set with `--hf-overrides
   * '{"id2label":{...}}'`), which names `/classify`'s `label`. Default: what
   * transformers gives a config with 5 labels and no names, "LABEL_0" ..
   * "LABEL_4" (the classifier_from_token conversion sets only num_labels).
   */
  id2label?: Readonly<Record<number, string>>;
  /** Answer every list out of index order (as the `x-sim-shuffle-choices: 1` header does per request). */
  shuffleChoices?: boolean;
  /** Errors in the pre-0.10.1 shape `{"object":"error",...}` instead of `{"error":{...}}`. */
  legacyErrors?: boolean;
  /** Engine alive at start; default true. */
  healthy?: boolean;
  /** Default 32 MiB; larger bodies get 413. */
  maxBodyBytes?: number;
  /** Faults to inject from the start; default none. */
  faults?: FaultSpec;
  /** Seed of the fault PRNG (the same seed and spec fault the same calls); default 1. */
  faultSeed?: number;
  /**
   * vLLM's `--api-key`: routes under /v1 answer 401 `{"error":"Unauthorized"}`
   * without `Authorization: Bearer <key>`. Like vLLM, other routes (/health,
   * /classify, /metrics) stay open. Default: no key.
   */
  apiKey?: string | undefined;
  /** Serve HTTPS (vLLM's --ssl-certfile/--ssl-keyfile) with this PEM certificate and key. */
  tls?: { cert: Buffer; key: Buffer } | undefined;
  clock?: Clock;
  /** Used as given (callers add their own bindings); nothing is logged without one. */
  logger?: Logger;
}

export interface VllmSimStats {
  /** `/classify` and `/v1/completions` calls received, valid or not. */
  requests: number;
  /** Sequences (prompts) that joined the running batch. */
  items: number;
  /** Sequences running now. */
  running: number;
  /** Sequences waiting for a running slot. */
  waiting: number;
  maxRunningSeen: number;
  /** Calls that failed: error answers (injected ones too), client disconnects, resets, calls cut by stop() or close(). */
  failures: number;
  /** Injected faults by kind ("latency": calls given added latency). */
  faults: Record<FaultKind, number>;
}

export interface VllmSim extends AsyncDisposable {
  /** "http://host:port" (https with `tls`), the base URL to give a client. */
  readonly url: string;
  readonly port: number;
  stats(): VllmSimStats;
  /** The trace contexts (`traceparent` header) of the last scoring calls that carried one, oldest first. */
  receivedTraces(): ReceivedTrace[];
  /** Changes the cost model from the next engine step on. */
  setCost(cost: Partial<VllmSimCost>): void;
  /** false: `/health` answers 503 and inference 500, as after vLLM's EngineDeadError. */
  setHealthy(healthy: boolean): void;
  /** Replaces the fault spec (RangeError naming the field if invalid); releases hung calls. */
  setFaults(spec: FaultSpec): void;
  /** No faults from now on; hung calls are released and run normally. */
  clearFaults(): void;
  /** Dies at once: the listener closes (connections are refused), open connections drop, work is lost. */
  stop(): void;
  /** stop(), then resolves once the listener has closed. */
  close(): Promise<void>;
}
