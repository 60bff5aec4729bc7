import t from "tap";
import { GatewayError } from "../../src/util/gateway-error.js";
import { capturedLogger } from "../helpers/captured-logger.js";

const quoted = "d".repeat(100_000);

t.test(
  "an error's message and stack are bounded in a log line (a backend's text may quote a document)",
  async (t) => {
    const logs = capturedLogger("info");
    logs.logger.error({ err: new GatewayError("BACKEND_REJECTED", `rejected: ${quoted}`) }, "failed");
    // pino appends the causes' messages and stacks to the error's own.
    const cause = new Error(`tokenizer failed on ${quoted}`);
    logs.logger.error(
      { err: new GatewayError("BACKEND_REJECTED", `rejected: ${quoted}`, { cause }) },
      "failed",
    );
    logs.logger.error({ err: "a plain string is not an error" }, "not an error");
    const [line, withCause, plain] = logs.text().split("\n");
    for (const l of [line!, withCause!]) t.ok(l.length <= 4096, `the line has ${l.length} characters`);
    const err = JSON.parse(line!).err as { message: string; stack: string; reason: string };
    // "rejected: " is 10 characters: 1014 d's fit under the 1024 cap, 100000 - 1014 are left out.
    t.equal(err.message, `rejected: ${"d".repeat(1014)}…(+98986 chars)`);
    t.match(err.stack, /^GatewayError: rejected: d+…\(\+\d+ chars\)$/, "the stack is cut and marked too");
    t.equal(err.reason, "BACKEND_REJECTED", "the error's fields are kept");
    t.equal(JSON.parse(plain!).err, "a plain string is not an error", "anything else is logged as before");
  },
);
