import { z } from "zod";
import { int } from "./schema-helpers.js";

/**
 * TLS settings: the public gRPC listener (`server.grpc.tls`), the admin
 * HTTP listener (`server.admin.tls`) and the connections to the backends (`backends.<name>.tls`). Every block defaults to
 * null, which keeps plaintext. Files are PEM; they are read and checked when
 * the gateway starts (an unreadable or mismatched file fails the start with
 * the key's path), not here, so `check-config` works on a machine without them.
 */

const file = z.string().min(1);

/** Certificate and key go together: one without the other is a typo, not a choice. */
function requirePair(
  t: { readonly certFile: string | null; readonly keyFile: string | null },
  ctx: z.RefinementCtx,
): void {
  if ((t.certFile === null) === (t.keyFile === null)) return;
  const [missing, given] = t.certFile === null ? ["certFile", "keyFile"] : ["keyFile", "certFile"];
  ctx.addIssue({
    code: "custom",
    path: [missing],
    input: null,
    message: `is required when ${given} is set (the certificate and its private key go together)`,
  });
}

/**
 * A listener's certificate: the gRPC server's (`server.grpc.tls`) and the
 * admin listener's (`server.admin.tls`). `clientCaFile` turns on mutual TLS: the
 * handshake fails for a client without a certificate signed by that CA.
 * The files are re-read every `refreshIntervalMs`; a changed, valid pair
 * applies to new connections (a broken one is logged and the last good
 * pair stays in use).
 */
export const serverTlsSchema = z
  .object({
    certFile: file,
    keyFile: file,
    clientCaFile: file.nullable().default(null),
    refreshIntervalMs: int().min(100).max(86_400_000).default(60_000),
  })
  .strict()
  .readonly()
  .nullable()
  .default(null);

/** TLS to Triton (grpcs). `caFile` null trusts the system's roots. */
export const tritonTlsSchema = z
  .object({
    caFile: file.nullable().default(null),
    // A client certificate, for a Triton (or a proxy before it) that requires mutual TLS.
    certFile: file.nullable().default(null),
    keyFile: file.nullable().default(null),
    // The name the server's certificate must carry, when it is not the endpoint's host.
    serverName: z.string().min(1).nullable().default(null),
  })
  .strict()
  .superRefine(requirePair)
  .readonly()
  .nullable()
  .default(null);

/** TLS to vLLM: applies to its https:// endpoints. `caFile` null trusts the system's roots. */
export const vllmTlsSchema = z
  .object({ caFile: file.nullable().default(null) })
  .strict()
  .readonly()
  .nullable()
  .default(null);

/** An environment variable name (POSIX portable set). */
export const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** vLLM's `--api-key`: where the gateway finds the key it sends as `Authorization: Bearer`. */
export const vllmApiKeyShape = {
  apiKeyEnv: z
    .string()
    .regex(ENV_VAR_NAME, { error: "must be an environment variable name (letters, digits, '_')" })
    .nullable()
    .default(null),
  apiKeyFile: file.nullable().default(null),
};
