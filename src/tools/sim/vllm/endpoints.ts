/**
 * The vLLM simulator's response bodies, and what `/classify` and
 * `/v1/completions` do once a body is valid: each prompt becomes its own
 * engine sequence (vLLM fans list inputs out to per-item engine requests),
 * the response waits for all of them, and the bodies have vLLM's shapes.
 *
 * Completions: the simulated model answers with the argmax label's digit and
 * then ends its turn, so every choice has one token. With `max_tokens: 1`
 * (what the gateway sends) `finish_reason` is "length"; with more room it is
 * "stop" (the end-of-turn token is not reported, and `stop_reason` stays
 * null as it does for EOS).
 */
import { randomBytes } from "node:crypto";
import { softmax5 } from "../triton/scores.js";
import { completionLogprobs, teacherNextToken } from "./logprobs.js";
import type { FinishedReason } from "./metrics.js";
import type { EngineTicket, VllmScheduler } from "./scheduler.js";
import { argmax5, parseTeacherInput, teacherLogits } from "./scores.js";
import type { ClassifyJob, CompletionJob, ServedModel, SimPrompt } from "./validation.js";

export interface SequenceHooks {
  /** A sequence joined the running batch. */
  started(): void;
  /** A sequence finished. */
  finished(prompt: SimPrompt): void;
}

/** Thrown when the engine closed under a request (stop() or close()). */
export class EngineClosedError extends Error {
  constructor() {
    super("vllm sim: the engine shut down");
    this.name = "EngineClosedError";
  }
}

/**
 * Runs every prompt as an engine sequence at `priority`; resolves when all
 * finished. Aborting `signal` cancels them all.
 */
export function runPrompts(
  engine: VllmScheduler,
  prompts: readonly SimPrompt[],
  priority: number,
  hooks: SequenceHooks,
  signal: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let pending = prompts.length;
    // Filled as we go: a closed engine aborts a sequence inside submit().
    const tickets: EngineTicket[] = [];
    for (const prompt of prompts) {
      const ticket = engine.submit({
        promptTokens: prompt.tokens,
        priority,
        onStart: () => hooks.started(),
        onDone: () => {
          hooks.finished(prompt);
          if (--pending === 0) {
            signal.removeEventListener("abort", cancel);
            resolve();
          }
        },
        onAbort: () => fail(new EngineClosedError()),
      });
      tickets.push(ticket);
    }
    function fail(err: Error): void {
      signal.removeEventListener("abort", cancel);
      for (const t of tickets) t.cancel();
      reject(err);
    }
    function cancel(): void {
      fail(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
    }
    if (signal.aborted) cancel();
    else signal.addEventListener("abort", cancel, { once: true });
  });
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const hexId = () => randomBytes(16).toString("hex");

function usage(prompts: readonly SimPrompt[], completionTokens: number) {
  const promptTokens = prompts.reduce((n, p) => n + p.tokens, 0);
  return {
    prompt_tokens: promptTokens,
    total_tokens: promptTokens + completionTokens,
    completion_tokens: completionTokens,
    prompt_tokens_details: null,
  };
}

/** A random order that differs from the original whenever there are two or more items. */
export function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  if (out.length > 1 && out.every((x, i) => x === items[i])) out.push(out.shift()!);
  return out;
}

/**
 * vLLM's `label` is `hf_config.id2label.get(argmax(probs))` (vllm
 * `entrypoints/pooling/classify/serving.py`): null for an index the map
 * lacks. A config with num_labels set and no names gets transformers'
 * default names "LABEL_<i>", which is what serving a causal LM with
 * `--convert classify` and `classifier_from_token` produces (vllm sets only
 * num_labels). The gateway never reads `label`, only `probs`.
 */
function classLabel(index: number, id2label: Readonly<Record<number, string>> | undefined): string | null {
  if (id2label === undefined) return `LABEL_${index}`;
  return id2label[index] ?? null;
}

export function classifyBody(
  job: ClassifyJob,
  shuffle: boolean,
  id2label?: Readonly<Record<number, string>>,
): Record<string, unknown> {
  const data = job.prompts.map((p, index) => {
    const { query, document } = parseTeacherInput(p.text);
    const logits = teacherLogits(query, document);
    const label = classLabel(argmax5(logits), id2label);
    return { index, label, probs: softmax5(logits), num_classes: 5 };
  });
  return {
    id: `classify-${hexId()}`,
    object: "list",
    created: nowSeconds(),
    model: job.model,
    data: shuffle ? shuffled(data) : data,
    usage: usage(job.prompts, 0),
  };
}

export function completionFinishReason(job: CompletionJob): FinishedReason {
  return job.maxTokens === 1 ? "length" : "stop";
}

export function completionBody(job: CompletionJob, shuffle: boolean): Record<string, unknown> {
  const finishReason = completionFinishReason(job);
  const choices = job.prompts.map((p, index) => {
    const { query, document } = parseTeacherInput(p.text);
    const next = teacherNextToken(query, document);
    return {
      index,
      text: next.token,
      logprobs: job.logprobs === null ? null : completionLogprobs(next, job.logprobs),
      finish_reason: finishReason,
      stop_reason: null,
      prompt_logprobs: null,
    };
  });
  return {
    id: `cmpl-${hexId()}`,
    object: "text_completion",
    created: nowSeconds(),
    model: job.model,
    choices: shuffle ? shuffled(choices) : choices,
    usage: usage(job.prompts, job.prompts.length),
  };
}

/** `GET /v1/models`: vLLM's ModelList with one card, including its default ModelPermission. */
export function modelListBody(served: ServedModel, createdAt: number): Record<string, unknown> {
  return {
    object: "list",
    data: [
      {
        id: served.name,
        object: "model",
        created: createdAt,
        owned_by: "vllm",
        root: served.name,
        parent: null,
        max_model_len: served.maxModelLen,
        permission: [
          {
            id: `modelperm-${hexId()}`,
            object: "model_permission",
            created: createdAt,
            allow_create_engine: false,
            allow_sampling: true,
            allow_logprobs: true,
            allow_search_indices: false,
            allow_view: true,
            allow_fine_tuning: false,
            organization: "*",
            group: null,
            is_blocking: false,
          },
        ],
      },
    ],
  };
}
