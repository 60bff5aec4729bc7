/**
 * Validation of `/classify` and `/v1/completions` bodies for the vLLM
 * simulator, in vLLM's order: field types (400), the model (404), then
 * lengths (400), then the engine's `priority` check. Fields vLLM knows but
 * the simulator has no use for (request_id, seed, stop, structured_outputs,
 * ...) and unknown
 * fields are ignored, as vLLM ignores unknown fields. Field-type messages
 * name the field but do not copy pydantic's wording.
 *
 * What the simulator refuses although vLLM would accept it (each a 400 whose
 * message starts with "vllm sim:"): token-ID prompts, `n` other than 1,
 * `echo`, `stream`.
 */
import {
  badRequest,
  completionTooLong,
  maxTokensTooLarge,
  modelNotFound,
  poolingTooLong,
  TRUNCATION_TOO_LARGE,
} from "./errors.js";
import { SIM_MAX_LOGPROBS } from "./logprobs.js";
import { simTokenCount, simTruncate, type TruncationSide } from "./scores.js";

/** vLLM's VLLM_MAX_COMPLETION_PROMPTS default: the longest `input`/`prompt` list. */
export const VLLM_MAX_COMPLETION_PROMPTS = 1024;
/** Llama-3's vocabulary: what `logprobs: -1` asks for. */
const VOCAB_SIZE = 128_256;
/** CompletionRequest's default `max_tokens`. */
const DEFAULT_MAX_TOKENS = 16;

export interface ServedModel {
  readonly name: string;
  readonly maxModelLen: number;
  /** Started with `--scheduling-policy priority`; otherwise any `priority` but 0 is refused. */
  readonly priorityScheduling: boolean;
}

export interface SimPrompt {
  /** The text the model sees, after any truncation. */
  readonly text: string;
  readonly tokens: number;
}

export interface ClassifyJob {
  readonly model: string;
  readonly prompts: readonly SimPrompt[];
  readonly priority: number;
}

export interface CompletionJob {
  readonly model: string;
  readonly prompts: readonly SimPrompt[];
  readonly priority: number;
  readonly maxTokens: number;
  /** Top-k log-probabilities per position; null returns `logprobs: null`. */
  readonly logprobs: number | null;
  /** A real server would then sample at temperature 1 (or the model's generation_config). */
  readonly temperatureUnset: boolean;
}

type Body = Record<string, unknown>;

function asBody(body: unknown): Body {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw badRequest("Input should be a valid dictionary or object to extract fields from");
  }
  return body as Body;
}

function optionalInt(body: Body, name: string, min: number): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v))
    throw badRequest(`${name}: Input should be a valid integer`);
  if (v < min) throw badRequest(`${name}: Input should be greater than or equal to ${min}`);
  return v;
}

function optionalBool(body: Body, name: string): boolean | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw badRequest(`${name}: Input should be a valid boolean`);
  return v;
}

function texts(body: Body, name: string): string[] {
  const v = body[name];
  if (v === undefined || v === null) throw badRequest(`${name}: Field required`);
  if (typeof v === "string") return [v];
  if (!Array.isArray(v)) throw badRequest(`${name}: Input should be a valid string or list of strings`);
  if (v.length === 0) throw badRequest(`${name}: List should have at least 1 item after validation, not 0`);
  if (v.length > VLLM_MAX_COMPLETION_PROMPTS) {
    throw badRequest(
      `${name}: List should have at most ${VLLM_MAX_COMPLETION_PROMPTS} items after validation, not ${v.length}`,
    );
  }
  if (v.every((x) => typeof x === "string")) return v as string[];
  if (v.every((x) => typeof x === "number" || Array.isArray(x))) {
    throw badRequest(`vllm sim: token-ID ${name} is not supported; send text`, name);
  }
  throw badRequest(`${name}: Input should be a valid string or list of strings`);
}

function checkModel(body: Body, served: ServedModel): string {
  const v = body.model;
  if (v === undefined || v === null) return served.name;
  if (typeof v !== "string") throw badRequest("model: Input should be a valid string");
  if (v !== served.name) throw modelNotFound(v);
  return v;
}

/** `truncate_prompt_tokens`, with -1 meaning max_model_len. */
function truncation(body: Body, served: ServedModel): number | undefined {
  const t = optionalInt(body, "truncate_prompt_tokens", -1);
  if (t === undefined) return undefined;
  if (t === 0)
    throw badRequest("vllm sim: truncate_prompt_tokens must be -1 or >= 1", "truncate_prompt_tokens");
  if (t > served.maxModelLen) throw badRequest(TRUNCATION_TOO_LARGE);
  return t === -1 ? served.maxModelLen : t;
}

function truncationSide(body: Body): TruncationSide {
  const v = body.truncation_side;
  if (v === undefined || v === null) return "left";
  if (v !== "left" && v !== "right") throw badRequest("truncation_side: Input should be 'left' or 'right'");
  return v;
}

function prompt(text: string, limit: number | undefined, side: TruncationSide, special: boolean): SimPrompt {
  const kept = limit === undefined ? text : simTruncate(text, limit, side, special);
  return { text: kept, tokens: simTokenCount(kept, special) };
}

export function parseClassify(raw: unknown, served: ServedModel): ClassifyJob {
  const body = asBody(raw);
  const inputs = texts(body, "input");
  const priority = optionalInt(body, "priority", Number.MIN_SAFE_INTEGER) ?? 0;
  const special = optionalBool(body, "add_special_tokens") ?? true;
  const side = truncationSide(body);
  const model = checkModel(body, served);
  const limit = truncation(body, served);
  const prompts = inputs.map((text) => {
    const p = prompt(text, limit, side, special);
    if (p.tokens > served.maxModelLen) throw poolingTooLong(served.maxModelLen, p.tokens);
    return p;
  });
  return { model, prompts, priority: scheduled(priority, served) };
}

/**
 * The request's `priority` once it is otherwise valid: the engine refuses
 * any other than 0 unless the server schedules by priority (vLLM's
 * processor, `add_request`).
 */
function scheduled(priority: number, served: ServedModel): number {
  if (priority !== 0 && !served.priorityScheduling) {
    throw badRequest(`Got priority ${priority} but Priority scheduling is not enabled.`);
  }
  return priority;
}

export function parseCompletion(raw: unknown, served: ServedModel): CompletionJob {
  const body = asBody(raw);
  const inputs = texts(body, "prompt");
  const priority = optionalInt(body, "priority", Number.MIN_SAFE_INTEGER) ?? 0;
  const special = optionalBool(body, "add_special_tokens") ?? true;
  const maxTokens = optionalInt(body, "max_tokens", Number.MIN_SAFE_INTEGER) ?? DEFAULT_MAX_TOKENS;
  const logprobs = optionalInt(body, "logprobs", -1) ?? null;
  const temperature = body.temperature;
  if (temperature !== undefined && temperature !== null && typeof temperature !== "number") {
    throw badRequest("temperature: Input should be a valid number");
  }
  if ((optionalInt(body, "n", Number.MIN_SAFE_INTEGER) ?? 1) !== 1) {
    throw badRequest("vllm sim: only n = 1 is supported", "n");
  }
  if (optionalBool(body, "echo")) throw badRequest("vllm sim: echo is not supported", "echo");
  if (optionalBool(body, "stream")) throw badRequest("vllm sim: stream is not supported", "stream");
  const model = checkModel(body, served);
  const limit = truncation(body, served);
  if (typeof temperature === "number" && temperature < 0) {
    throw badRequest(`temperature must be non-negative, got ${temperature}.`);
  }
  if (maxTokens < 1) throw badRequest(`max_tokens must be at least 1, got ${maxTokens}.`);
  if (logprobs !== null) {
    const asked = logprobs === -1 ? VOCAB_SIZE : logprobs;
    if (asked > SIM_MAX_LOGPROBS) {
      throw badRequest(
        `Requested sample logprobs of ${asked}, which is greater than max allowed: ${SIM_MAX_LOGPROBS}`,
      );
    }
  }
  // Completions always truncate on the left (the end of the prompt asks for the label).
  const prompts = inputs.map((text) => {
    const p = prompt(text, limit, "left", special);
    if (p.tokens >= served.maxModelLen) throw completionTooLong(served.maxModelLen, p.tokens);
    if (p.tokens + maxTokens > served.maxModelLen) {
      throw maxTokensTooLarge(maxTokens, served.maxModelLen, p.tokens);
    }
    return p;
  });
  return {
    model,
    prompts,
    maxTokens,
    logprobs,
    temperatureUnset: temperature === undefined || temperature === null,
    priority: scheduled(priority, served),
  };
}
