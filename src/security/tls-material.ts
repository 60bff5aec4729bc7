/**
 * Reading TLS files (PEM) and checking them before they are used: a
 * certificate that does not parse, a key that does not belong to it or a CA
 * bundle without a certificate would otherwise surface as a handshake failure
 * on a client, far from the file at fault. Every error names the config key
 * of the file.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { CredentialFileError } from "./secret-file.js";

/** Where the files come from: paths, and the config key prefix that names them in errors. */
export interface TlsFiles {
  /** The config key of the block, e.g. "server.grpc.tls"; errors name `<configPath>.<field>`. */
  readonly configPath: string;
  readonly certFile?: string | null | undefined;
  readonly keyFile?: string | null | undefined;
  /** `caFile` or `clientCaFile`, named by `caField`. */
  readonly caFile?: string | null | undefined;
  /** The config field name of `caFile` (default "caFile"). */
  readonly caField?: string | undefined;
}

/** What a certificate is, as logs and tests want to see it. */
export interface CertificateSummary {
  readonly subject: string;
  readonly serialNumber: string;
  readonly fingerprint256: string;
  readonly validTo: string;
}

export interface TlsMaterial {
  /** The PEM chain and its key, when certFile is set. */
  readonly identity?: { readonly certificate: Buffer; readonly privateKey: Buffer } | undefined;
  /** The PEM CA bundle, when the CA file is set. */
  readonly ca?: Buffer | undefined;
  /** The leaf certificate of `identity`. */
  readonly summary?: CertificateSummary | undefined;
}

const PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----";

/** Reads and checks the files; throws CredentialFileError naming the first unusable one. */
export function readTlsMaterial(files: TlsFiles): TlsMaterial {
  const at = (field: string) => `${files.configPath}.${field}`;
  let identity: TlsMaterial["identity"];
  let summary: CertificateSummary | undefined;
  if (files.certFile && files.keyFile) {
    const certificate = readFile(files.certFile, at("certFile"));
    const privateKey = readFile(files.keyFile, at("keyFile"));
    const leaf = parseCertificate(certificate, files.certFile, at("certFile"));
    let key: ReturnType<typeof createPrivateKey>;
    try {
      key = createPrivateKey(privateKey);
    } catch (err) {
      throw new CredentialFileError(
        at("keyFile"),
        `${files.keyFile} is not a PEM private key (${message(err)})`,
        {
          cause: err,
        },
      );
    }
    if (!leaf.checkPrivateKey(key)) {
      throw new CredentialFileError(
        at("keyFile"),
        `${files.keyFile} is not the private key of the certificate in ${files.certFile}`,
      );
    }
    identity = { certificate, privateKey };
    summary = summarise(leaf);
  } else if (files.certFile || files.keyFile) {
    // The schema refuses this; a caller building options by hand gets the same answer.
    const missing = files.certFile ? "keyFile" : "certFile";
    throw new CredentialFileError(
      at(missing),
      "is required with its pair (certFile and keyFile go together)",
    );
  }
  let ca: Buffer | undefined;
  if (files.caFile) {
    const field = at(files.caField ?? "caFile");
    ca = readFile(files.caFile, field);
    parseCertificate(ca, files.caFile, field);
  }
  return { identity, ca, summary };
}

/** Whether two readings hold the same bytes (a reload that changed nothing is not announced). */
export function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  const eq = (x: Buffer | undefined, y: Buffer | undefined) =>
    x === undefined || y === undefined ? x === y : x.equals(y);
  return (
    eq(a.identity?.certificate, b.identity?.certificate) &&
    eq(a.identity?.privateKey, b.identity?.privateKey) &&
    eq(a.ca, b.ca)
  );
}

export function summarise(cert: X509Certificate): CertificateSummary {
  return {
    subject: cert.subject.replace(/\n/g, ", "),
    serialNumber: cert.serialNumber,
    fingerprint256: cert.fingerprint256,
    validTo: cert.validTo,
  };
}

function readFile(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new CredentialFileError(key, `cannot read ${path}: ${message(err)}`, { cause: err });
  }
}

/** The first certificate of a PEM file (a chain's leaf, a bundle's first CA). */
function parseCertificate(pem: Buffer, path: string, key: string): X509Certificate {
  if (!pem.includes(PEM_CERTIFICATE)) {
    throw new CredentialFileError(key, `${path} holds no PEM certificate (${PEM_CERTIFICATE})`);
  }
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new CredentialFileError(key, `${path} is not a valid PEM certificate (${message(err)})`, {
      cause: err,
    });
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
