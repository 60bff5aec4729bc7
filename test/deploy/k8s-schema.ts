// Kubernetes objects checked against the API's schemas, offline, in two complementary ways:
//
//  1. kubernetes-models' validators (ajv code generated from the Kubernetes OpenAPI schema, and from
//     the prometheus-operator CRDs): types, formats, enums, required fields. They accept unknown
//     fields, because the OpenAPI schema does not forbid them (the API server drops them silently).
//  2. TypeScript's excess-property check against the same package's interfaces: each object becomes
//     an object literal typed as its kind's interface, and the compiler rejects every field the
//     interface lacks, at any depth (`readinesProbe: …` → "does not exist in type 'IContainer'").
import { fileURLToPath } from "node:url";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import ts from "typescript";

/** A parsed manifest: what it is, and where it came from (for messages). */
export interface Manifest {
  readonly where: string;
  readonly object: KubeObject;
}

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  readonly [field: string]: unknown;
}

export interface SchemaProblem {
  readonly where: string;
  readonly message: string;
}

interface ModelClass {
  readonly apiVersion: string;
  readonly kind: string;
  new (): { validate(): void };
}

interface KindSchema {
  readonly model: ModelClass;
  /** The module and interface the excess-property check types the object with. */
  readonly typeModule: string;
  readonly typeName: string;
}

/**
 * The kinds this repository's manifests use. A kind missing here is a failure, not a pass: add it
 * (its model class and interface) when a manifest starts using it.
 */
const KINDS: readonly KindSchema[] = [
  { model: Deployment, typeModule: "kubernetes-models/apps/v1/Deployment", typeName: "IDeployment" },
  {
    model: HorizontalPodAutoscaler,
    typeModule: "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler",
    typeName: "IHorizontalPodAutoscaler",
  },
  {
    model: NetworkPolicy,
    typeModule: "kubernetes-models/networking.k8s.io/v1/NetworkPolicy",
    typeName: "INetworkPolicy",
  },
  {
    model: PodDisruptionBudget,
    typeModule: "kubernetes-models/policy/v1/PodDisruptionBudget",
    typeName: "IPodDisruptionBudget",
  },
  { model: ConfigMap, typeModule: "kubernetes-models/v1/ConfigMap", typeName: "IConfigMap" },
  { model: Namespace, typeModule: "kubernetes-models/v1/Namespace", typeName: "INamespace" },
  {
    model: PersistentVolumeClaim,
    typeModule: "kubernetes-models/v1/PersistentVolumeClaim",
    typeName: "IPersistentVolumeClaim",
  },
  { model: Secret, typeModule: "kubernetes-models/v1/Secret", typeName: "ISecret" },
  { model: Service, typeModule: "kubernetes-models/v1/Service", typeName: "IService" },
  { model: ServiceAccount, typeModule: "kubernetes-models/v1/ServiceAccount", typeName: "IServiceAccount" },
  {
    model: ServiceMonitor,
    typeModule: "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
    typeName: "IServiceMonitor",
  },
];

function schemaOf(object: KubeObject): KindSchema | undefined {
  return KINDS.find((k) => k.model.apiVersion === object.apiVersion && k.model.kind === object.kind);
}

/** `Kind/name` for messages. */
export function describeObject(object: KubeObject): string {
  return `${object.kind}/${object.metadata?.name ?? "(unnamed)"}`;
}

/** Whether a parsed YAML document looks like a Kubernetes object (has apiVersion and kind). */
export function isKubeObject(value: unknown): value is KubeObject {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { apiVersion?: unknown }).apiVersion === "string" &&
    typeof (value as { kind?: unknown }).kind === "string"
  );
}

/** Check 1: the validators generated from the OpenAPI schema. */
export function validatorProblems(manifests: readonly Manifest[]): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  for (const { where, object } of manifests) {
    const schema = schemaOf(object);
    if (schema === undefined) {
      problems.push({
        where,
        message: `${object.apiVersion} ${object.kind}: no schema registered (test/deploy/k8s-schema.ts)`,
      });
      continue;
    }
    try {
      Object.assign(new schema.model(), object).validate();
    } catch (err) {
      problems.push({ where, message: err instanceof Error ? err.message : String(err) });
    }
  }
  return problems;
}

/** Where the generated source pretends to live, so that node_modules resolves as for a test. */
const VIRTUAL_FILE = fileURLToPath(new URL("./manifest-types.virtual.ts", import.meta.url));

const COMPILER_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  target: ts.ScriptTarget.ES2022,
  lib: ["lib.es2022.d.ts"],
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  types: [],
};

/**
 * Check 2: unknown fields, through TypeScript's excess-property check. One program for all the
 * manifests (building it costs seconds; checking one more object costs little). Objects of kinds
 * without a schema are reported by validatorProblems and skipped here.
 */
export function unknownFieldProblems(manifests: readonly Manifest[]): SchemaProblem[] {
  const lines: string[] = [];
  const lineOwner: string[] = [];
  const imported = new Map<KindSchema, string>();
  const declarations: { line: string; where: string }[] = [];
  manifests.forEach(({ where, object }, i) => {
    const schema = schemaOf(object);
    if (schema === undefined) return;
    let alias = imported.get(schema);
    if (alias === undefined) {
      alias = `K${imported.size}`;
      imported.set(schema, alias);
    }
    declarations.push({ line: `export const m${i}: ${alias} = ${objectLiteral(object)};`, where });
  });
  for (const [schema, alias] of imported) {
    lines.push(`import type { ${schema.typeName} as ${alias} } from "${schema.typeModule}";`);
    lineOwner.push("(imports)");
  }
  for (const { line, where } of declarations) {
    lines.push(line);
    lineOwner.push(where);
  }
  const source = lines.join("\n");

  const host = ts.createCompilerHost(COMPILER_OPTIONS);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, ...rest) =>
    fileName === VIRTUAL_FILE
      ? ts.createSourceFile(fileName, source, languageVersion)
      : getSourceFile(fileName, languageVersion, ...rest);
  host.fileExists = (fileName) => fileName === VIRTUAL_FILE || fileExists(fileName);
  host.readFile = (fileName) => (fileName === VIRTUAL_FILE ? source : readFile(fileName));

  const program = ts.createProgram([VIRTUAL_FILE], COMPILER_OPTIONS, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, " ");
    if (d.file?.fileName !== VIRTUAL_FILE || d.start === undefined) {
      return { where: d.file?.fileName ?? "(typescript)", message };
    }
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    return { where: lineOwner[line] ?? "(generated source)", message };
  });
}

/** JSON, but with bare keys where they are identifiers, so that messages name fields as written. */
function objectLiteral(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(objectLiteral).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const fields = Object.entries(value).map(
      ([k, v]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}:${objectLiteral(v)}`,
    );
    return `{${fields.join(",")}}`;
  }
  return JSON.stringify(value) ?? "undefined";
}

/** Both checks; empty when every manifest is valid. */
export function schemaProblems(manifests: readonly Manifest[]): SchemaProblem[] {
  return [...validatorProblems(manifests), ...unknownFieldProblems(manifests)];
}
