import { flagsAs, withDefaults } from "./command-spec.js";
import { onStopSignal, startGateway } from "./serve.js";
import { startTritonSim, startVllmSim, type TritonSimFlags, type VllmSimFlags } from "./sim.js";
import { SIM_COMMAND } from "./sim-command.js";

/**
 * `npm start`: the Triton and vLLM simulators on the real servers' default ports, then the
 * gateway with the local config; prints where everything listens and a
 * command to try; Ctrl-C stops all of it.
 */
export async function dev(configPath: string): Promise<void> {
  // Each simulator as `relevance-gateway sim KIND` starts it with no options: its declared defaults.
  const sim = await startTritonSim(flagsAs<TritonSimFlags>(withDefaults(SIM_COMMAND, ["triton"])), "warn");
  const teacher = await startVllmSim(
    flagsAs<VllmSimFlags>(withDefaults(SIM_COMMAND, ["vllm"])),
    "warn",
  ).catch(async (err: unknown) => {
    await sim.close();
    throw err;
  });
  const closeSims = () => Promise.all([sim.close(), teacher.close()]);
  let started: Awaited<ReturnType<typeof startGateway>>;
  try {
    started = await startGateway(configPath);
  } catch (err) {
    await closeSims();
    throw err;
  }
  const { gateway, grpcPort, adminPort } = started;
  const lines = [
    "",
    "relevance-gateway is running with its built-in simulators:",
    `  gateway gRPC      127.0.0.1:${grpcPort}   (relevance.v1.RelevanceService, health, reflection)`,
    `  gateway admin     http://127.0.0.1:${adminPort}/metrics  /healthz  /readyz`,
    `  Triton simulator  ${sim.address} (the student, KServe v2 gRPC)` +
      (sim.metricsPort ? `, metrics http://127.0.0.1:${sim.metricsPort}/metrics` : ""),
    `  vLLM simulator    ${teacher.url} (the teacher, OpenAI-compatible HTTP), metrics ${teacher.url}/metrics`,
    `  config            ${configPath}`,
    "",
    "Try it from another terminal:",
    `  npx relevance-gateway score --target 127.0.0.1:${grpcPort} --query "chocolate chip cookies" \\`,
    `      --doc "Best chocolate chip cookies recipe" --doc "Oatmeal raisin cookies" --doc "Garden furniture ideas"`,
    "  … and the same with --experiment teacher-eval (or --teacher) for the teacher's scores.",
    "",
    "Ctrl-C stops the gateway and the simulators.",
    "",
  ];
  process.stderr.write(lines.join("\n"));
  await onStopSignal(async () => {
    await gateway.shutdown();
    await closeSims();
  });
}
