import { loadConfigFile } from "../config/index.js";
import { createGateway, type Gateway } from "../gateway.js";
import { CliError } from "./fail.js";

export async function startGateway(
  configPath: string,
): Promise<{ gateway: Gateway; grpcPort: number; adminPort: number }> {
  const cfg = loadConfigFile(configPath);
  const gateway = createGateway(cfg, { configFile: configPath });
  try {
    const ports = await gateway.start();
    // SIGHUP reloads the config file: live keys apply; a bad file keeps the running config. Both are logged.
    process.on("SIGHUP", () => gateway.control.reloadFile());
    return { gateway, ...ports };
  } catch (err) {
    await gateway.shutdown().catch(() => {});
    throw new CliError(`cannot start the gateway: ${err instanceof Error ? err.message : String(err)}`, 1);
  }
}

/** `serve --config FILE`: runs until SIGTERM/SIGINT, then drains and exits 0. */
export async function serve(configPath: string | undefined): Promise<void> {
  if (!configPath) throw new CliError("serve: --config FILE is required");
  const { gateway } = await startGateway(configPath);
  await onStopSignal(() => gateway.shutdown());
}

/**
 * Runs `stop` on the first SIGTERM or SIGINT and resolves when it is done; a
 * second signal exits at once (exit code 1) for an operator who will not wait.
 */
export function onStopSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    const handler = () => {
      if (stopping) process.exit(1);
      stopping = true;
      stop().then(resolve, reject);
    };
    process.on("SIGTERM", handler);
    process.on("SIGINT", handler);
  });
}
