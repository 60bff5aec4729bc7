import { z } from "zod";
import { int } from "./schema-helpers.js";

/**
 * The `auth` section: who may call the gateway and what each caller may do.
 * Without it (the default) every request is served as client "anonymous"
 * with an unrestricted policy, which is the behaviour before identities
 * existed. docs/security.md explains the model; docs/configuration.md lists
 * the keys.
 */

/** Client names appear in metric labels and logs: short, lower-case, bounded by the config. */
export const CLIENT_NAME = /^[a-z][a-z0-9_-]*$/;

/** The name requests without credentials are served under; no configured client may take it. */
export const ANONYMOUS_CLIENT = "anonymous";

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/** A token bucket in documents: `burstDocuments` at once, refilled at `documentsPerSecond`. */
const rateLimitSchema = z
  .object({
    documentsPerSecond: z.number().positive().max(10_000_000),
    burstDocuments: int().min(1).max(100_000_000),
  })
  .strict()
  .readonly();

/** What a client may do; the defaults are those of a listed client (nothing beyond plain scoring). */
const policyShape = {
  // model_preference=TEACHER; routing.allowForcedTeacher must allow it too.
  mayForceTeacher: z.boolean().default(false),
  // Experiment names this client may request; ["*"] is every configured experiment.
  experiments: z.array(z.string().min(1)).readonly().prefault([]),
  // null: limits.maxDocumentsPerRequest.
  maxDocumentsPerRequest: int().min(1).nullable().default(null),
  rateLimit: rateLimitSchema.nullable().default(null),
  // Its share of each backend's queue against the other clients of the same priority band.
  weight: z.number().min(0.01).max(1000).default(1),
};

const clientSchema = z
  .object({
    name: z.string().regex(CLIENT_NAME, {
      error: "client names must start with a lower-case letter, then lower-case letters, digits, '_' or '-'",
    }),
    // Hex SHA-256 of each accepted key; several allow a rotation without downtime.
    apiKeySha256: z
      .array(
        z
          .string()
          .regex(SHA256_HEX, { error: "must be 64 hexadecimal digits (the SHA-256 of the key)" })
          .transform((h) => h.toLowerCase()),
      )
      .readonly()
      .prefault([]),
    // A file holding the key itself (a mounted Secret), read at start and at every reload.
    apiKeyFile: z.string().min(1).nullable().default(null),
    // Exact subject CNs of mTLS client certificates that identify this client.
    certSubjects: z.array(z.string().min(1)).readonly().prefault([]),
    ...policyShape,
  })
  .strict()
  .readonly();

export const authSchema = z
  .object({
    // Requests without credentials are served as client "anonymous"; false answers them UNAUTHENTICATED.
    anonymous: z.boolean().default(true),
    // Unrestricted by default, so a gateway without `auth` behaves as before.
    anonymousPolicy: z
      .object({
        ...policyShape,
        mayForceTeacher: z.boolean().default(true),
        experiments: z.array(z.string().min(1)).readonly().prefault(["*"]),
      })
      .strict()
      .readonly()
      .prefault({}),
    clients: z.array(clientSchema).readonly().prefault([]),
  })
  .strict()
  .superRefine((auth, ctx) => {
    const names = new Map<string, number>();
    const hashes = new Map<string, number>();
    const subjects = new Map<string, number>();
    auth.clients.forEach((c, i) => {
      if (c.name === ANONYMOUS_CLIENT) {
        ctx.addIssue({
          code: "custom",
          path: ["clients", i, "name"],
          input: c.name,
          message: `"${ANONYMOUS_CLIENT}" is reserved for requests without credentials (auth.anonymousPolicy)`,
        });
      }
      const first = names.get(c.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["clients", i, "name"],
          input: c.name,
          message: `"${c.name}" is already defined at auth.clients[${first}]`,
        });
      } else names.set(c.name, i);
      if (c.apiKeySha256.length === 0 && c.apiKeyFile === null && c.certSubjects.length === 0) {
        ctx.addIssue({
          code: "custom",
          path: ["clients", i],
          input: c,
          message: "has no credentials: set apiKeySha256, apiKeyFile or certSubjects",
        });
      }
      // One credential, one identity: a key or subject shared by two clients would pick one silently.
      c.apiKeySha256.forEach((h, j) => {
        const owner = hashes.get(h);
        if (owner !== undefined && owner !== i) {
          ctx.addIssue({
            code: "custom",
            path: ["clients", i, "apiKeySha256", j],
            input: h,
            message: `the same key is already accepted for auth.clients[${owner}]`,
          });
        } else hashes.set(h, i);
      });
      c.certSubjects.forEach((s, j) => {
        const owner = subjects.get(s);
        if (owner !== undefined && owner !== i) {
          ctx.addIssue({
            code: "custom",
            path: ["clients", i, "certSubjects", j],
            input: s,
            message: `"${s}" already identifies auth.clients[${owner}]`,
          });
        } else subjects.set(s, i);
      });
    });
    if (!auth.anonymous && auth.clients.length === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["clients"],
        input: auth.clients,
        message: "auth.anonymous is false and no client is configured: every request would be refused",
      });
    }
  })
  .readonly();

export type AuthConfig = z.output<typeof authSchema>;
export type AuthClientConfig = AuthConfig["clients"][number];
export type AuthPolicyConfig = AuthConfig["anonymousPolicy"];

/**
 * Checks of `auth` against the rest of the config: a client's document cap
 * within the global one, and experiment names that exist. Called from the
 * top-level schema's refinement, so the paths start at `auth`.
 */
export function checkAuthReferences(
  cfg: {
    readonly auth: AuthConfig;
    readonly limits: { readonly maxDocumentsPerRequest: number };
    readonly routing: { readonly experiments: readonly { readonly name: string }[] };
  },
  ctx: z.RefinementCtx,
): void {
  const max = cfg.limits.maxDocumentsPerRequest;
  const experiments = new Set(cfg.routing.experiments.map((e) => e.name));
  const check = (policy: AuthPolicyConfig, path: (string | number)[]) => {
    if (policy.maxDocumentsPerRequest !== null && policy.maxDocumentsPerRequest > max) {
      ctx.addIssue({
        code: "custom",
        path: [...path, "maxDocumentsPerRequest"],
        input: policy.maxDocumentsPerRequest,
        message: `must be ≤ limits.maxDocumentsPerRequest (${max})`,
      });
    }
    policy.experiments.forEach((name, j) => {
      if (name !== "*" && !experiments.has(name)) {
        const known = [...experiments].join(", ") || "none";
        ctx.addIssue({
          code: "custom",
          path: [...path, "experiments", j],
          input: name,
          message: `"${name}" is not a configured experiment (routing.experiments: ${known}); "*" allows all`,
        });
      }
    });
  };
  check(cfg.auth.anonymousPolicy, ["auth", "anonymousPolicy"]);
  cfg.auth.clients.forEach((c, i) => {
    check(c, ["auth", "clients", i]);
  });
}
