// The hooks module-recorder.mjs registers (node:module register(); see its comment).
import { appendFileSync } from "node:fs";

/** @type {string | undefined} */
let file;

/** @param {{ file?: string }} data */
export function initialize(data) {
  file = data.file;
}

/**
 * @param {string} url
 * @param {unknown} context
 * @param {(url: string, context: unknown) => Promise<unknown>} nextLoad
 */
export async function load(url, context, nextLoad) {
  if (file !== undefined && url.startsWith("file:")) appendFileSync(file, `${url}\n`);
  return nextLoad(url, context);
}
