import type { LoadRunner } from "./load-runner.js";
import type { ChildServer, Scratch } from "./processes.js";

/** How long each part of a scenario runs. */
export interface Durations {
  /** Unmeasured load before each measured window (connections, JIT, steady queues). */
  readonly warmupS: number;
  /** Each measured window. */
  readonly measureS: number;
  /** Configurations are measured in turn, this many times (machine noise hits each alike). */
  readonly rounds: number;
  /** The memory soak's measured length, and the load before it. */
  readonly soakS: number;
  readonly soakWarmupS: number;
}

// Their defaults, full and --quick, are declared with the bench command (src/cli/commands.ts).

/** What every scenario gets from the run. */
export interface BenchContext {
  readonly quick: boolean;
  readonly durations: Durations;
  readonly load: LoadRunner;
  readonly scratch: Scratch;
  /** Seed of arrival times and request texts. */
  readonly seed: number;
  /** A progress line (stderr). */
  readonly log: (line: string) => void;
  /** Node flags for a gateway process: --cpu-prof into the output folder when profiling. */
  readonly gatewayNodeFlags: (name: string) => readonly string[];
  /** Peak RSS of gateways at saturation, by scenario and configuration, for the memory goal. */
  readonly saturatedRss: { readonly where: string; readonly peakRssMb: number }[];
}

/**
 * The processes of one scenario: each is registered as it starts, and all
 * are stopped together (also when the scenario fails half-way).
 */
export class ServerStack implements AsyncDisposable {
  readonly #servers: ChildServer[] = [];

  async add<T extends ChildServer>(starting: Promise<T>): Promise<T> {
    const server = await starting;
    this.#servers.push(server);
    return server;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.#servers.splice(0).map((s) => s.stop()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stopAll();
  }
}
