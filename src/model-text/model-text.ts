/**
 * The text a model sees for a (query, document) pair. Every backend (the
 * Triton student, the vLLM teacher, the simulators) gets the same text, so
 * scores are comparable across backends and a shadow comparison compares
 * models, not prompt formats.
 *
 * A document renders as labelled fields in configured order, e.g.
 *   Title: Easy sourdough
 *   Boards: Bread | Weekend baking
 * Each field is normalised (see normalise.ts) and capped to its byte budget.
 */

import type { DocumentMessage } from "../codec/index.js";
import { normaliseText } from "./normalise.js";
import { truncateUtf8 } from "./truncate.js";

export type ModelTextField =
  | "title"
  | "description"
  | "imageCaption"
  | "boardTitles"
  | "engagedQueries"
  | "linkText";

export interface ModelTextFieldOptions {
  readonly field: ModelTextField;
  readonly label: string;
  /** UTF-8 budget of the value (the label is not counted). */
  readonly maxBytes: number;
  /** List fields only: how many non-empty items are kept. */
  readonly maxItems?: number | undefined;
}

export interface ModelTextOptions {
  readonly queryMaxBytes: number;
  /** Between rendered fields. */
  readonly separator: string;
  /** Between the items of a list field. */
  readonly listSeparator: string;
  readonly fields: readonly ModelTextFieldOptions[];
}

export interface ModelText {
  query(text: string): string;
  /** "" when every field is empty; validation keeps such documents from a model. */
  document(doc: DocumentMessage): string;
}

export const defaultModelTextOptions: ModelTextOptions = {
  queryMaxBytes: 512,
  separator: "\n",
  listSeparator: " | ",
  fields: [
    { field: "title", label: "Title", maxBytes: 256 },
    { field: "description", label: "Description", maxBytes: 1024 },
    { field: "imageCaption", label: "Image", maxBytes: 512 },
    { field: "boardTitles", label: "Boards", maxBytes: 384, maxItems: 10 },
    { field: "engagedQueries", label: "Queries", maxBytes: 384, maxItems: 10 },
    { field: "linkText", label: "Link", maxBytes: 512 },
  ],
};

/**
 * Appends one field's pieces ("<label>: ", then its value or its items and
 * their separators) to `parts`; returns false when the field has no text, and
 * the caller drops whatever it appended.
 */
type FieldRenderer = (doc: DocumentMessage, parts: string[]) => boolean;

export function createModelText(cfg: ModelTextOptions): ModelText {
  // Field lookups and label prefixes are resolved once here, not per document.
  const renderers = cfg.fields.map((f) => fieldRenderer(f, cfg.listSeparator));
  const separator = cfg.separator;
  const queryMaxBytes = cfg.queryMaxBytes;

  return {
    query(text) {
      return capped(normaliseText(text), queryMaxBytes);
    },
    // The pieces are joined once, so the text is one flat string of its own: not a
    // tree of concatenations, nor a slice that keeps a long field of the document
    // alive. A request waiting in a queue holds its texts, not its documents.
    document(doc) {
      const parts: string[] = [];
      for (const render of renderers) {
        const mark = parts.length;
        if (mark > 0) parts.push(separator);
        if (!render(doc, parts)) parts.length = mark;
      }
      return parts.join("");
    },
  };
}

function fieldRenderer(f: ModelTextFieldOptions, listSeparator: string): FieldRenderer {
  const prefix = `${f.label}: `;
  const maxBytes = f.maxBytes;
  switch (f.field) {
    case "title":
      return scalar(prefix, maxBytes, (d) => d.title);
    case "description":
      return scalar(prefix, maxBytes, (d) => d.description);
    case "imageCaption":
      return scalar(prefix, maxBytes, (d) => d.imageCaption);
    case "linkText":
      return scalar(prefix, maxBytes, (d) => d.linkText);
    case "boardTitles":
      return list(prefix, maxBytes, f.maxItems, listSeparator, (d) => d.boardTitles);
    case "engagedQueries":
      return list(prefix, maxBytes, f.maxItems, listSeparator, (d) => d.engagedQueries);
    default:
      // Config validation rejects unknown names; this guards hand-built options.
      throw new Error(`unknown model text field ${JSON.stringify((f as { field: unknown }).field)}`);
  }
}

function scalar(prefix: string, maxBytes: number, get: (d: DocumentMessage) => string): FieldRenderer {
  return (doc, parts) => {
    const value = capped(normaliseText(get(doc)), maxBytes);
    if (value === "") return false;
    parts.push(prefix, value);
    return true;
  };
}

function list(
  prefix: string,
  maxBytes: number,
  maxItems: number | undefined,
  separator: string,
  get: (d: DocumentMessage) => readonly string[],
): FieldRenderer {
  const itemLimit = maxItems ?? Number.POSITIVE_INFINITY;
  const separatorBytes = Buffer.byteLength(separator);
  return (doc, parts) => {
    parts.push(prefix);
    let bytes = 0;
    let count = 0;
    for (const raw of get(doc)) {
      if (count >= itemLimit) break;
      const item = normaliseText(raw);
      if (item === "") continue;
      const sepBytes = count === 0 ? 0 : separatorBytes;
      const room = maxBytes - bytes - sepBytes;
      if (room <= 0) break;
      const itemBytes = Buffer.byteLength(item);
      if (itemBytes <= room) {
        if (count > 0) parts.push(separator);
        parts.push(item);
        bytes += sepBytes + itemBytes;
        count++;
        continue;
      }
      // Same result as joining and then truncating, except that a cut never
      // leaves a dangling separator.
      const part = capped(item, room);
      if (part !== "") {
        if (count > 0) parts.push(separator);
        parts.push(part);
        count++;
      }
      break;
    }
    return count > 0;
  };
}

/**
 * `text` truncated to `maxBytes`; a space left at the end by the cut is
 * dropped, since it is not content.
 */
function capped(text: string, maxBytes: number): string {
  const cut = truncateUtf8(text, maxBytes);
  return cut.length === text.length ? cut : cut.trimEnd();
}
