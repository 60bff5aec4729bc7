/** Process entry of the bare Score server (bare-server.ts): prints its address, stops on SIGTERM/SIGINT. */
import { startBareScoreServer } from "./bare-server.js";

const server = await startBareScoreServer("127.0.0.1", 0);
process.stderr.write(`bare score server: gRPC 127.0.0.1:${server.port}\n`);
const stop = () => {
  void server.close();
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
