import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { ConfigError, parseConfig } from "../../src/config/index.js";

/** A repository file's path, independent of the working directory. */
export function repoPath(relative: string): string {
  return fileURLToPath(new URL(`../../${relative}`, import.meta.url));
}

type Plain = { [key: string]: unknown };

/** The smallest valid config with both kinds of backend; tests patch it. */
export function baseConfig(): Plain {
  return {
    backends: {
      student: { kind: "triton", endpoints: ["127.0.0.1:8001"], model: "relevance_student" },
      teacher: { kind: "vllm", endpoints: ["http://127.0.0.1:8000"], model: "relevance-teacher" },
    },
  };
}

/** `base` with `patch` merged in; a patch value of undefined deletes the key. */
export function merge(base: Plain, patch: Plain): Plain {
  const out: Plain = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    const current = out[key];
    if (value === undefined) delete out[key];
    else if (isPlain(value) && isPlain(current)) out[key] = merge(current, value);
    else out[key] = value;
  }
  return out;
}

/** The ConfigError that parsing `doc` (an object, written out as YAML, or YAML text) raises. */
export function configError(doc: Plain | string): ConfigError {
  const text = typeof doc === "string" ? doc : stringify(doc);
  try {
    parseConfig(text, "test.yaml", {});
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`expected a ConfigError for:\n${text}`);
}

function isPlain(value: unknown): value is Plain {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
