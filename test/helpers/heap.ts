import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Live heap after a full collection, bytes. */
export function heapAfterGc(): number {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}
