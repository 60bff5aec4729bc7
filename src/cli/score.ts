import * as grpc from "@grpc/grpc-js";
import { scoreServiceDefinition } from "../api/server.js";
import type { DocumentMessage, ScoreRequestMessage, ScoreResponseMessage } from "../codec/index.js";
import { readNamedEnv } from "../config/env.js";
import { isBearerToken, readKeyFile } from "../security/api-key.js";
import { CredentialFileError } from "../security/secret-file.js";
import { readTlsMaterial } from "../security/tls-material.js";
import { CliError, intOption } from "./fail.js";

/** The options of `score` (commands.ts); `score` itself needs the defaulted ones, see ScoreCommandFlags. */
export interface ScoreFlags {
  readonly target?: string | undefined;
  readonly query?: string | undefined;
  readonly doc?: string[] | undefined;
  readonly "doc-json"?: string[] | undefined;
  readonly experiment?: string | undefined;
  readonly teacher?: boolean | undefined;
  readonly "routing-key"?: string | undefined;
  readonly "deadline-ms"?: string | undefined;
  readonly json?: boolean | undefined;
  readonly "api-key-env"?: string | undefined;
  readonly "api-key-file"?: string | undefined;
  readonly tls?: boolean | undefined;
  readonly "tls-ca"?: string | undefined;
  readonly "tls-cert"?: string | undefined;
  readonly "tls-key"?: string | undefined;
  readonly "tls-server-name"?: string | undefined;
}

/** How the CLI reaches the gateway: channel credentials and options, and the API key it sends. */
export interface ScoreConnection {
  readonly credentials: grpc.ChannelCredentials;
  readonly options: grpc.ChannelOptions;
  /** Whether the channel is TLS. */
  readonly tls: boolean;
  /** Where the key came from ("--api-key-env NAME", "--api-key-file FILE"), when one is sent. */
  readonly apiKeySource: string | undefined;
  /** The key sent as `authorization: Bearer <key>`; never printed. */
  readonly apiKey: string | undefined;
}

/**
 * The API key of `--api-key-env` or `--api-key-file`, or undefined when
 * neither is given. The key itself is never a flag: it would show in `ps`
 * and in the shell's history.
 */
export function apiKeyFromFlags(
  flags: ScoreFlags,
  readEnv: (name: string) => string | undefined = readNamedEnv,
): { readonly key: string; readonly source: string } | undefined {
  const envName = flags["api-key-env"];
  const file = flags["api-key-file"];
  if (envName !== undefined && file !== undefined)
    throw new CliError("score: give --api-key-env or --api-key-file, not both");
  if (envName !== undefined) {
    const key = readEnv(envName);
    if (key === undefined)
      throw new CliError(`--api-key-env: the environment variable ${envName} is not set or empty`);
    if (!isBearerToken(key))
      throw new CliError(
        `--api-key-env: the value of ${envName} must be one key of printable ASCII characters without spaces`,
      );
    return { key, source: `--api-key-env ${envName}` };
  }
  if (file !== undefined) {
    try {
      return { key: readKeyFile(file, "--api-key-file"), source: `--api-key-file ${file}` };
    } catch (err) {
      throw new CliError((err as Error).message);
    }
  }
  return undefined;
}

const TLS_FLAGS: Record<string, string> = {
  "score.caFile": "--tls-ca",
  "score.certFile": "--tls-cert",
  "score.keyFile": "--tls-key",
};

/**
 * Plaintext, or TLS when `--tls` or any other `--tls-*` flag is given: the
 * system's roots or `--tls-ca`, a client certificate from `--tls-cert` and
 * `--tls-key` (mutual TLS), and the name the server's certificate must carry
 * from `--tls-server-name`. The files are read and checked here (a key that is
 * not the certificate's is named, not left to a failing handshake).
 */
export function connectionFromFlags(
  flags: ScoreFlags,
  readEnv: (name: string) => string | undefined = readNamedEnv,
): ScoreConnection {
  const apiKey = apiKeyFromFlags(flags, readEnv);
  const certFile = flags["tls-cert"];
  const keyFile = flags["tls-key"];
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new CliError(
      certFile === undefined
        ? "--tls-key: needs --tls-cert (a client certificate and its key go together)"
        : "--tls-cert: needs --tls-key (a client certificate and its key go together)",
    );
  const serverName = flags["tls-server-name"];
  if (serverName === "") throw new CliError("--tls-server-name: expected a name");
  const tls =
    flags.tls === true || flags["tls-ca"] !== undefined || certFile !== undefined || serverName !== undefined;
  const common = { tls, apiKey: apiKey?.key, apiKeySource: apiKey?.source };
  if (!tls) return { ...common, credentials: grpc.credentials.createInsecure(), options: {} };
  let material: ReturnType<typeof readTlsMaterial>;
  try {
    material = readTlsMaterial({ configPath: "score", caFile: flags["tls-ca"], certFile, keyFile });
  } catch (err) {
    if (!(err instanceof CredentialFileError)) throw err;
    const flag = TLS_FLAGS[err.path] ?? err.path;
    throw new CliError(`${flag}: ${err.message.slice(err.path.length + 2)}`);
  }
  return {
    ...common,
    credentials: grpc.credentials.createSsl(
      material.ca ?? null,
      material.identity?.privateKey ?? null,
      material.identity?.certificate ?? null,
    ),
    options: serverName === undefined ? {} : { "grpc.ssl_target_name_override": serverName },
  };
}

const DOC_JSON_FIELDS: Record<string, keyof DocumentMessage> = {
  id: "id",
  title: "title",
  description: "description",
  image_caption: "imageCaption",
  board_titles: "boardTitles",
  engaged_queries: "engagedQueries",
  link_text: "linkText",
  locale: "locale",
};

function emptyDocument(id: string): DocumentMessage {
  return {
    id,
    title: "",
    description: "",
    imageCaption: "",
    boardTitles: [],
    engagedQueries: [],
    linkText: "",
    locale: "",
  };
}

function parseDocJson(text: string, index: number): DocumentMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CliError(`--doc-json #${index + 1}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new CliError(`--doc-json #${index + 1}: expected a JSON object`);
  const doc = emptyDocument(`doc-${index + 1}`);
  for (const [key, value] of Object.entries(raw)) {
    const field = DOC_JSON_FIELDS[key];
    if (!field)
      throw new CliError(
        `--doc-json #${index + 1}: unknown field ${JSON.stringify(key)} (known: ${Object.keys(DOC_JSON_FIELDS).join(", ")})`,
      );
    if (field === "boardTitles" || field === "engagedQueries") {
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string"))
        throw new CliError(`--doc-json #${index + 1}: ${key} must be an array of strings`);
      doc[field] = value;
    } else {
      if (typeof value !== "string") throw new CliError(`--doc-json #${index + 1}: ${key} must be a string`);
      doc[field] = value;
    }
  }
  return doc;
}

export function buildScoreRequest(flags: ScoreFlags): ScoreRequestMessage {
  if (!flags.query) throw new CliError("score: --query TEXT is required");
  const documents: DocumentMessage[] = [];
  for (const title of flags.doc ?? [])
    documents.push({ ...emptyDocument(`doc-${documents.length + 1}`), title });
  for (const text of flags["doc-json"] ?? []) documents.push(parseDocJson(text, documents.length));
  if (documents.length === 0) throw new CliError("score: give at least one --doc TEXT or --doc-json JSON");
  return {
    requestId: "",
    query: { text: flags.query, locale: "" },
    documents,
    routingKey: flags["routing-key"] ?? "",
    experiment: flags.experiment ?? "",
    priority: 1,
    modelPreference: flags.teacher ? 2 : 0,
  };
}

export function callScore(
  target: string,
  request: ScoreRequestMessage,
  deadlineMs: number,
  connection?: ScoreConnection,
): Promise<ScoreResponseMessage> {
  const client = new grpc.Client(
    target,
    connection?.credentials ?? grpc.credentials.createInsecure(),
    connection?.options ?? {},
  );
  const metadata = new grpc.Metadata();
  if (connection?.apiKey !== undefined) metadata.set("authorization", `Bearer ${connection.apiKey}`);
  const method = scoreServiceDefinition.Score!;
  return new Promise<ScoreResponseMessage>((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      metadata,
      { deadline: Date.now() + deadlineMs },
      (err, response) => (err || !response ? reject(err) : resolve(response as ScoreResponseMessage)),
    );
  }).finally(() => client.close());
}

/** A readable table: one row per document, most relevant first. */
export function formatScoreTable(request: ScoreRequestMessage, response: ScoreResponseMessage): string {
  const titles = new Map(request.documents.map((d) => [d.id, d.title || d.description || d.imageCaption]));
  const rows = response.scores
    .map((s) => ({ s, er: s.expectedRelevance }))
    .sort((a, b) => b.er - a.er)
    .map(({ s }) => [
      s.documentId,
      String(s.label),
      s.expectedRelevance.toFixed(3),
      ...Array.from(s.probabilities, (p) => p.toFixed(3)),
      truncate(titles.get(s.documentId) ?? "", 48),
    ]);
  const header = ["document", "label", "E[rel]", "p(1)", "p(2)", "p(3)", "p(4)", "p(5)", "title"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  const m = response.model;
  return [
    `request ${response.requestId} · route ${response.route} · backend ${m?.backend ?? "?"} · model ${m?.name ?? "?"} version ${m?.version || "-"}`,
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map(line),
  ].join("\n");
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** What to check after a refusal, on a line of its own; undefined when the status says it all. */
export function scoreHint(code: grpc.status, connection: ScoreConnection): string | undefined {
  if (code === grpc.status.UNAUTHENTICATED) {
    return connection.apiKeySource === undefined
      ? "(the gateway requires an API key: --api-key-env or --api-key-file)"
      : `(the gateway refused the key of ${connection.apiKeySource})`;
  }
  if (code === grpc.status.UNAVAILABLE && connection.tls) {
    return "(if the TLS handshake failed: check --tls-ca and --tls-server-name, and --tls-cert/--tls-key for mutual TLS)";
  }
  return undefined;
}

/** With the defaults commands.ts declares filled in. */
export type ScoreCommandFlags = ScoreFlags & { readonly target: string; readonly "deadline-ms": string };

export async function score(flags: ScoreCommandFlags): Promise<void> {
  const request = buildScoreRequest(flags);
  const target = flags.target;
  const deadlineMs = intOption("deadline-ms", flags["deadline-ms"]);
  const connection = connectionFromFlags(flags);
  let response: ScoreResponseMessage;
  try {
    response = await callScore(target, request, deadlineMs, connection);
  } catch (err) {
    const e = err as grpc.ServiceError;
    const hint = scoreHint(e.code, connection);
    // grpc-js passes OpenSSL's messages on with their line breaks; the status stays on one line.
    const details = (e.details ?? e.message).replace(/\s*\n\s*/g, " ").trim();
    throw new CliError(
      `score: ${grpc.status[e.code] ?? "ERROR"}: ${details}${hint === undefined ? "" : `\n${hint}`}`,
      1,
    );
  }
  if (flags.json) {
    const plain = {
      ...response,
      scores: response.scores.map((s) => ({ ...s, probabilities: Array.from(s.probabilities) })),
    };
    process.stdout.write(`${JSON.stringify(plain, null, 2)}\n`);
  } else {
    process.stdout.write(`${formatScoreTable(request, response)}\n`);
  }
}
