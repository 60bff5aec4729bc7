import t from "tap";
import { formatEffectiveConfig, isLivePath, parseConfig, validateConfig } from "../../src/config/index.js";
import { sha256Hex } from "../../src/security/api-key.js";
import { baseConfig, configError, merge } from "../config/helpers.js";

const HASH = sha256Hex("a-key");
const client = (patch: Record<string, unknown> = {}) => ({
  name: "search-frontend",
  apiKeySha256: [HASH],
  ...patch,
});
const withAuth = (auth: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  merge(merge(baseConfig(), { auth }), extra);

t.test(
  "without an auth section: anonymous, unrestricted, no clients (the behaviour before identities)",
  (t) => {
    const cfg = validateConfig(baseConfig());
    t.same(cfg.auth, {
      anonymous: true,
      anonymousPolicy: {
        mayForceTeacher: true,
        experiments: ["*"],
        maxDocumentsPerRequest: null,
        rateLimit: null,
        weight: 1,
      },
      clients: [],
    });
    t.end();
  },
);

t.test("a listed client's defaults, and the effective config parses back to the same config", (t) => {
  const cfg = validateConfig(
    withAuth(
      { anonymous: false, clients: [client({ apiKeySha256: [HASH.toUpperCase()] })] },
      { routing: { experiments: [{ name: "teacher-eval", backend: "teacher" }] } },
    ),
  );
  t.same(cfg.auth.clients[0], {
    name: "search-frontend",
    apiKeySha256: [HASH],
    apiKeyFile: null,
    certSubjects: [],
    mayForceTeacher: false,
    experiments: [],
    maxDocumentsPerRequest: null,
    rateLimit: null,
    weight: 1,
  });
  t.same(parseConfig(formatEffectiveConfig(cfg), "effective.yaml", {}), cfg);
  t.end();
});

t.test("auth.* changes live", (t) => {
  t.ok(isLivePath("auth.anonymous"));
  t.ok(isLivePath("auth.clients"));
  t.ok(isLivePath("auth.anonymousPolicy.rateLimit.documentsPerSecond"));
  t.end();
});

type Case = readonly [name: string, doc: Record<string, unknown>, message: string];

const cases: readonly Case[] = [
  ["unknown key", withAuth({ anonymus: false }), "auth.anonymus: unknown key"],
  [
    "unknown client key",
    withAuth({ clients: [client({ apiKey: "x" })] }),
    "auth.clients[0].apiKey: unknown key",
  ],
  [
    "bad client name",
    withAuth({ clients: [client({ name: "Search Frontend" })] }),
    "auth.clients[0].name: client names must start with a lower-case letter, then lower-case letters, digits, '_' or '-'",
  ],
  [
    "reserved name",
    withAuth({ clients: [client({ name: "anonymous" })] }),
    'auth.clients[0].name: "anonymous" is reserved for requests without credentials (auth.anonymousPolicy)',
  ],
  [
    "duplicate name",
    withAuth({ clients: [client(), client({ apiKeySha256: [sha256Hex("other")] })] }),
    'auth.clients[1].name: "search-frontend" is already defined at auth.clients[0]',
  ],
  [
    "not a SHA-256",
    withAuth({ clients: [client({ apiKeySha256: ["the-key-itself"] })] }),
    "auth.clients[0].apiKeySha256[0]: must be 64 hexadecimal digits (the SHA-256 of the key)",
  ],
  [
    "one key, two clients",
    withAuth({ clients: [client(), client({ name: "other" })] }),
    "auth.clients[1].apiKeySha256[0]: the same key is already accepted for auth.clients[0]",
  ],
  [
    "one subject, two clients",
    withAuth({
      clients: [
        client({ apiKeySha256: [], certSubjects: ["cn-a"] }),
        client({ name: "other", apiKeySha256: [], certSubjects: ["cn-a"] }),
      ],
    }),
    'auth.clients[1].certSubjects[0]: "cn-a" already identifies auth.clients[0]',
  ],
  [
    "no credentials",
    withAuth({ clients: [client({ apiKeySha256: [] })] }),
    "auth.clients[0]: has no credentials: set apiKeySha256, apiKeyFile or certSubjects",
  ],
  [
    "nobody could call",
    withAuth({ anonymous: false }),
    "auth.clients: auth.anonymous is false and no client is configured: every request would be refused",
  ],
  [
    "rate zero",
    withAuth({ clients: [client({ rateLimit: { documentsPerSecond: 0, burstDocuments: 10 } })] }),
    "auth.clients[0].rateLimit.documentsPerSecond: must be > 0",
  ],
  [
    "burst missing",
    withAuth({ clients: [client({ rateLimit: { documentsPerSecond: 10 } })] }),
    "auth.clients[0].rateLimit.burstDocuments: required (an integer)",
  ],
  [
    "burst not an integer",
    withAuth({ anonymousPolicy: { rateLimit: { documentsPerSecond: 10, burstDocuments: 2.5 } } }),
    "auth.anonymousPolicy.rateLimit.burstDocuments: expected an integer, got 2.5",
  ],
  [
    "per-client cap above the global one",
    withAuth({ clients: [client({ maxDocumentsPerRequest: 1001 })] }),
    "auth.clients[0].maxDocumentsPerRequest: must be ≤ limits.maxDocumentsPerRequest (1000)",
  ],
  [
    "an experiment that does not exist",
    withAuth({ clients: [client({ experiments: ["teacher-evl"] })] }),
    'auth.clients[0].experiments[0]: "teacher-evl" is not a configured experiment (routing.experiments: none); "*" allows all',
  ],
  [
    "anonymous policy: unknown key",
    withAuth({ anonymousPolicy: { mayForceTeachers: false } }),
    "auth.anonymousPolicy.mayForceTeachers: unknown key",
  ],
];

for (const [name, doc, message] of cases) {
  t.test(name, (t) => {
    t.equal(configError(doc).message, message);
    t.end();
  });
}
