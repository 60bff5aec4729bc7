import { createHash } from "node:crypto";
import { type FSWatcher, readFileSync, watch } from "node:fs";
import { basename, dirname } from "node:path";

export interface ConfigWatcher {
  close(): void;
}

/**
 * Calls `onChange` when the contents of the file at `path` change, at most
 * once per `debounceMs` burst. It watches the file's directory, not the file:
 * a Kubernetes ConfigMap volume updates by swapping a symlink (`..data`), and
 * editors save by renaming, both of which a watch on the file itself misses.
 * Events that leave the contents as they were (a touch, the symlink dance of
 * an unrelated key) are ignored by comparing a hash of the contents.
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
    // An unreadable file (mid-swap) is not a change; the reload of the next event will tell.
    if (now === undefined || now === last) return;
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

function digest(path: string): string | undefined {
  try {
    return createHash("sha256").update(readFileSync(path)).digest("hex");
  } catch {
    return undefined;
  }
}
