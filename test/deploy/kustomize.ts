// Renders kustomizations with exactly one tool: the kubectl of Debian bookworm's `kubernetes-client`
// package (kubectl 1.20, with kustomize 2.0.3 built in), the oldest kustomize the manifests promise to
// work with; newer kustomize renders them the same way.
//
// It is not installed with apt: machines of this project's kind already carry another package's
// /usr/bin/kubectl, and dpkg refuses to let kubernetes-client overwrite it. fetch-kubectl.sh (run
// by scripts/provision-test-tools.sh, the first step of `npm test`) downloads the .deb and unpacks
// it into the user's cache directory instead, which is where this module looks. A missing tool fails the tests: it is never skipped.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** Where fetch-kubectl.sh unpacks the package (keep the two in step). */
export function debianKubectlPath(env: NodeJS.ProcessEnv = process.env): string {
  const cache =
    env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== ""
      ? env.XDG_CACHE_HOME
      : join(homedir(), ".cache");
  return join(cache, "relevance-gateway", "kubernetes-client", "usr", "bin", "kubectl");
}

export const INSTALL_HINT =
  "run `npm run test:tools` (Debian: test/deploy/fetch-kubectl.sh unpacks the kubernetes-client package's kubectl; `npm test` does it first)";

/** The Debian kubectl, checked to be the 1.20 the tests promise; throws with the fix otherwise. */
export async function debianKubectl(): Promise<string> {
  const path = debianKubectlPath();
  if (!existsSync(path)) throw new Error(`no kustomize renderer at ${path}: ${INSTALL_HINT}`);
  const { stdout } = await execFileAsync(path, ["version", "--client", "--output=json"], { timeout: 30_000 });
  const version = (JSON.parse(stdout) as { clientVersion?: { gitVersion?: string } }).clientVersion
    ?.gitVersion;
  if (version === undefined || !version.startsWith("v1.20.")) {
    throw new Error(
      `${path} is kubectl ${version ?? "(unknown version)"}, expected Debian's v1.20: ${INSTALL_HINT}`,
    );
  }
  return path;
}

/** `kubectl kustomize DIR`: the rendered YAML, or an error carrying kubectl's message. */
export async function kustomize(kubectl: string, dir: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync(kubectl, ["kustomize", dir], {
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const stderr = (err as { stderr?: unknown }).stderr;
    throw new Error(
      `kubectl kustomize ${dir} failed: ${typeof stderr === "string" && stderr !== "" ? stderr.trim() : String(err)}`,
    );
  }
}
