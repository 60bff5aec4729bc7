/**
 * The model identity a backend serves, as its readiness probes read it
 * (Triton's ModelMetadata, vLLM's `/v1/models`). The cache keys scores by
 * it, so it must be certain: it is known only when every endpoint that may
 * take a batch reports the same identity. While any of them has not been
 * probed yet, or two disagree (a rolling update), it is unknown and nothing
 * is read from or written to the cache.
 */
import { type BackendEndpoint, isUsable, type ModelIdentity } from "../backends/backend-client.js";

export function servedIdentity(endpoints: readonly BackendEndpoint[]): ModelIdentity | undefined {
  let found: ModelIdentity | undefined;
  for (const e of endpoints) {
    if (!isUsable(e.state)) continue;
    const model = e.model;
    if (model === undefined) return undefined;
    if (found === undefined) found = model;
    else if (found.name !== model.name || found.version !== model.version) return undefined;
  }
  return found;
}
