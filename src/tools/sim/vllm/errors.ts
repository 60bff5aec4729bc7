/**
 * Errors as vLLM's OpenAI-compatible server sends them. The current shape
 * (v0.10.1 and later) is `{"error":{"message","type","param","code"}}`; older
 * servers send `{"object":"error","message","type","param","code"}`. Both
 * carry the HTTP status as `code`. Routing errors come from FastAPI instead,
 * as `{"detail": "..."}`.
 */

export type VllmErrorType = "BadRequestError" | "NotFoundError" | "InternalServerError";

/** A request the simulator answers with an error body instead of a result. */
export class VllmSimError extends Error {
  readonly status: number;
  readonly type: VllmErrorType;
  readonly param: string | null;

  constructor(status: number, type: VllmErrorType, message: string, param: string | null = null) {
    super(message);
    this.name = "VllmSimError";
    this.status = status;
    this.type = type;
    this.param = param;
  }
}

export function badRequest(message: string, param: string | null = null): VllmSimError {
  return new VllmSimError(400, "BadRequestError", message, param);
}

export function modelNotFound(model: string): VllmSimError {
  return new VllmSimError(404, "NotFoundError", `The model \`${model}\` does not exist.`, "model");
}

/** The JSON body for `err`, in the current shape or, with `legacy`, the pre-0.10.1 one. */
export function errorBody(err: VllmSimError, legacy: boolean): Record<string, unknown> {
  const info = { message: err.message, type: err.type, param: err.param, code: err.status };
  return legacy ? { object: "error", ...info } : { error: info };
}

/** This model's maximum context length ... for `/v1/completions` (the prompt needs room for one token). */
export function completionTooLong(maxModelLen: number, tokens: number): VllmSimError {
  return badRequest(
    `This model's maximum context length is ${maxModelLen} tokens. However, your request has ${tokens} ` +
      "input tokens. Please reduce the length of the input messages.",
  );
}

/** This model's maximum context length ... for the pooling endpoints such as `/classify`. */
export function poolingTooLong(maxModelLen: number, tokens: number): VllmSimError {
  return badRequest(
    `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${tokens} ` +
      "tokens in the input for embedding generation. Please reduce the length of the input.",
  );
}

export function maxTokensTooLarge(maxTokens: number, maxModelLen: number, tokens: number): VllmSimError {
  return badRequest(
    `'max_tokens' or 'max_completion_tokens' is too large: ${maxTokens}. This model's maximum context ` +
      `length is ${maxModelLen} tokens and your request has ${tokens} input tokens ` +
      `(${maxTokens} > ${maxModelLen} - ${tokens}).`,
  );
}

export const TRUNCATION_TOO_LARGE =
  "truncate_prompt_tokens value is greater than max_model_len. Please, select a smaller truncation size.";
