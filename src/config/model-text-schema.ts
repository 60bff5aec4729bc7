import { z } from "zod";
import { int } from "./schema-helpers.js";

/** The document fields the model text can be assembled from (the `Document` message's text fields). */
export const MODEL_TEXT_FIELDS = [
  "title",
  "description",
  "imageCaption",
  "boardTitles",
  "engagedQueries",
  "linkText",
] as const;
export type ModelTextFieldName = (typeof MODEL_TEXT_FIELDS)[number];

/** The repeated fields: their items are joined with `listSeparator`, after keeping the first `maxItems`. */
export const LIST_FIELDS = ["boardTitles", "engagedQueries"] as const;

const FIELD_DEFAULTS: Readonly<Record<ModelTextFieldName, { label: string; maxBytes: number }>> = {
  title: { label: "Title", maxBytes: 256 },
  description: { label: "Description", maxBytes: 1024 },
  imageCaption: { label: "Image", maxBytes: 512 },
  boardTitles: { label: "Boards", maxBytes: 384 },
  engagedQueries: { label: "Queries", maxBytes: 384 },
  linkText: { label: "Link", maxBytes: 512 },
};

const DEFAULT_MAX_ITEMS = 10;

type ListFieldName = (typeof LIST_FIELDS)[number];
type ScalarFieldName = Exclude<ModelTextFieldName, ListFieldName>;

// One schema per field so that `- { field: boardTitles }` gets that field's
// own label and budget, and `maxItems` is accepted only where it means something.
function commonKeys(field: ModelTextFieldName) {
  const defaults = FIELD_DEFAULTS[field];
  return {
    label: z.string().min(1).default(defaults.label),
    maxBytes: int().min(1).default(defaults.maxBytes),
  };
}

function scalarField<F extends ScalarFieldName>(field: F) {
  return z
    .object({
      field: z.literal(field),
      ...commonKeys(field),
      maxItems: z.never({ error: `only valid for the list fields ${LIST_FIELDS.join(", ")}` }).optional(),
    })
    .strict()
    .readonly();
}

function listField<F extends ListFieldName>(field: F) {
  return z
    .object({
      field: z.literal(field),
      ...commonKeys(field),
      maxItems: int().min(1).default(DEFAULT_MAX_ITEMS),
    })
    .strict()
    .readonly();
}

const fieldSchema = z.discriminatedUnion("field", [
  scalarField("title"),
  scalarField("description"),
  scalarField("imageCaption"),
  listField("boardTitles"),
  listField("engagedQueries"),
  scalarField("linkText"),
]);

const fieldsSchema = z
  .array(fieldSchema)
  .min(1)
  .superRefine((fields, ctx) => {
    fields.forEach((f, i) => {
      const first = fields.findIndex((other) => other.field === f.field);
      if (first !== i) {
        ctx.addIssue({
          code: "custom",
          path: [i, "field"],
          input: f.field,
          message: `${f.field} is already listed at fields[${first}]; each field may appear once`,
        });
      }
    });
  })
  .readonly()
  .prefault(MODEL_TEXT_FIELDS.map((field) => ({ field })));

/** How a (query, document) pair becomes the text the model reads; see docs/configuration.md. */
export const modelTextSchema = z
  .object({
    queryMaxBytes: int().min(1).default(512),
    separator: z.string().default("\n"),
    listSeparator: z.string().default(" | "),
    fields: fieldsSchema,
  })
  .strict()
  .readonly();
