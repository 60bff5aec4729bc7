import * as grpc from "@grpc/grpc-js";
import { scoreServiceDefinition } from "../api/server.js";
import type { DocumentMessage, ScoreRequestMessage, ScoreResponseMessage } from "../codec/index.js";
import { CliError, intOption } from "./fail.js";

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
): Promise<ScoreResponseMessage> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  const method = scoreServiceDefinition.Score!;
  return new Promise<ScoreResponseMessage>((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      new grpc.Metadata(),
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

export async function score(flags: ScoreFlags): Promise<void> {
  const request = buildScoreRequest(flags);
  const target = flags.target ?? "127.0.0.1:50051";
  let response: ScoreResponseMessage;
  try {
    response = await callScore(target, request, intOption("deadline-ms", flags["deadline-ms"], 10_000));
  } catch (err) {
    const e = err as grpc.ServiceError;
    throw new CliError(`score: ${grpc.status[e.code] ?? "ERROR"}: ${e.details ?? e.message}`, 1);
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
