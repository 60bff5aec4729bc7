import { createHash } from "node:crypto";
import { type FSWatcher, watch } from "node:fs";
import { basename, dirname } from "node:path";
import { readConfigText } from "./config.js";

export interface ConfigWatcher {
  close(): void;
}

/**
 * Calls `onChange` when the contents of the file at `path` change, at most
 * once per `debounceMs` burst. It watches the file's directory, not the file:
 * a Kubernetes ConfigMap volume updates by swapping a symlink (`..data`), and
 * editors save by renaming, both of which a watch on the file itself misses.
 * Events that leave the contents as they were (a touch, the symlink dance of
 * an unrelated key) are ignored by comparing a hash of the contents; a file
 * that became unreadable (deleted, a directory, over the size cap) is a change,
 * so that its refusal is logged.
 */
export function watchConfigFile(
  path: string,
  opts: { debounceMs: number; onChange: () => void; onError: (err: unknown) => void },
): ConfigWatcher {
  let last = digest(path);
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  const name = basename(path);
  const check = () => {
    timer = undefined;
    const now = digest(path);
    // The debounce lets a swap (write aside, rename over) settle before the file is read.
    if (now === last) return;
    last = now;
    opts.onChange();
  };
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
      // Some platforms give no file name; the ConfigMap swap touches "..data", not the file.
      if (file !== null && file !== name && !file.startsWith("..")) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(check, opts.debounceMs);
      timer.unref();
    });
    watcher.on("error", opts.onError);
  } catch (err) {
    opts.onError(err);
  }
  return {
    close() {
      if (timer) clearTimeout(timer);
      watcher?.close();
    },
  };
}

/**
 * A hash of the file's contents, or of why it cannot be read: a file that
 * turns into something unreadable (deleted, a directory, too large) is a
 * change too, which the reload then refuses with a log line naming the cause.
 * Read as a reload reads it, so a FIFO or a huge file cannot stall the watch.
 */
function digest(path: string): string {
  const hash = createHash("sha256");
  try {
    hash.update("contents\0").update(readConfigText(path));
  } catch (err) {
    hash.update("unreadable\0").update(err instanceof Error ? err.message : String(err));
  }
  return hash.digest("hex");
}
