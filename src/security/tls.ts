/**
 * The public gRPC listener's credentials: plaintext (the default) or TLS
 * from a certificate and key file, re-read while the server runs, and
 * optionally mutual TLS with a client CA.
 *
 * With mutual TLS the handshake itself refuses a client without a
 * certificate signed by the CA (`requestCert` + `rejectUnauthorized`), so no
 * call of such a client reaches a handler. Handlers read the verified peer
 * certificate with `call.getAuthContext().sslPeerCertificate` (see
 * `peerCertificateSubject`), which is how a client identity is taken from its
 * certificate.
 */
import type { PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { FileCertificateProvider } from "./certificate-provider.js";
import type { CertificateSummary } from "./tls-material.js";

/** `server.grpc.tls`, as the config defines it. */
export interface ServerTlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile: string | null;
  readonly refreshIntervalMs: number;
}

export interface ServerCredentials {
  readonly credentials: grpc.ServerCredentials;
  /** "plaintext", "tls" or "mtls", for the startup log. */
  readonly mode: "plaintext" | "tls" | "mtls";
  /** The server certificate in use (undefined for plaintext). */
  certificate(): CertificateSummary | undefined;
}

/** The config key the TLS file errors name. */
export const SERVER_TLS_PATH = "server.grpc.tls";

/**
 * Builds the credentials. Throws CredentialFileError, whose message starts with the
 * config key (`server.grpc.tls.certFile: cannot read …`), when a file is
 * unreadable, not PEM, or the key does not match the certificate.
 */
export function createServerCredentials(tls: ServerTlsOptions | null, logger: Logger): ServerCredentials {
  if (tls === null) {
    return {
      credentials: grpc.ServerCredentials.createInsecure(),
      mode: "plaintext",
      certificate: () => undefined,
    };
  }
  const provider = new FileCertificateProvider({
    configPath: SERVER_TLS_PATH,
    certFile: tls.certFile,
    keyFile: tls.keyFile,
    caFile: tls.clientCaFile,
    caField: "clientCaFile",
    refreshIntervalMs: tls.refreshIntervalMs,
    logger: logger.child({ component: "tls" }),
  });
  const mutual = tls.clientCaFile !== null;
  // grpc-js declares the first parameter as the CA provider, but its implementation takes the
  // identity (certificate and key) provider first and the CA provider second.
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(
    provider,
    mutual ? provider : null,
    mutual,
  );
  return { credentials, mode: mutual ? "mtls" : "tls", certificate: () => provider.certificate };
}

/**
 * The subject CN of the client's verified certificate (mutual TLS), or
 * undefined: plaintext, no certificate, or no CN. grpc-js only reports a
 * certificate the handshake verified against the client CA.
 */
export function peerCertificateSubject(call: {
  getAuthContext(): { readonly sslPeerCertificate?: PeerCertificate | undefined };
}): string | undefined {
  const cn = call.getAuthContext().sslPeerCertificate?.subject?.CN;
  // A subject with several CNs parses as an array; an identity must be one name.
  return typeof cn === "string" && cn !== "" ? cn : undefined;
}
