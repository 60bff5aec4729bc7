/**
 * TLS for an HTTP listener (the admin listener, `server.admin.tls`): the
 * options of `https.createServer` from a certificate and key file, and
 * optionally mutual TLS with a client CA, re-read while the server listens.
 *
 * The files are read and checked by the same FileCertificateProvider as the
 * gRPC listener's: the first reading, at construction, throws
 * CredentialFileError naming the config key; later readings that fail are
 * logged and the last good pair stays. A changed, valid set is applied with
 * `server.setSecureContext(...)`, so new connections get it and open ones
 * keep their session.
 *
 * With `clientCaFile` the handshake refuses a client without a certificate
 * signed by that CA (`requestCert` + `rejectUnauthorized`), before any
 * request is read.
 */
import type { ServerOptions } from "node:https";
import type { SecureContextOptions, Server as TlsServer } from "node:tls";
import type { Logger } from "pino";
import { FileCertificateProvider } from "./certificate-provider.js";
import type { ServerTlsOptions } from "./tls.js";
import type { CertificateSummary, TlsMaterial } from "./tls-material.js";

/** The config key the admin listener's TLS file errors name. */
export const ADMIN_TLS_PATH = "server.admin.tls";

export interface HttpsServerTls {
  /** "tls" or "mtls", for the startup log. */
  readonly mode: "tls" | "mtls";
  /** Options for `https.createServer`: the files as first read, and the client-certificate policy. */
  serverOptions(): ServerOptions;
  /** The server certificate in use. */
  certificate(): CertificateSummary | undefined;
  /** Applies re-read files to `server`'s new connections while it listens (until it closes). */
  watch(server: TlsServer): void;
}

/**
 * Reads the files (throws CredentialFileError, whose message starts with
 * `<configPath>.<field>`, when one cannot be used) and returns the listener's
 * TLS settings.
 */
export function createHttpsServerTls(
  tls: ServerTlsOptions,
  logger: Logger,
  configPath: string = ADMIN_TLS_PATH,
): HttpsServerTls {
  const log = logger.child({ component: "tls", listener: configPath });
  const provider = new FileCertificateProvider({
    configPath,
    certFile: tls.certFile,
    keyFile: tls.keyFile,
    caFile: tls.clientCaFile,
    caField: "clientCaFile",
    refreshIntervalMs: tls.refreshIntervalMs,
    logger: log,
  });
  const mutual = tls.clientCaFile !== null;
  return {
    mode: mutual ? "mtls" : "tls",
    serverOptions: () => ({
      ...secureContextOptions(provider.material),
      requestCert: mutual,
      rejectUnauthorized: mutual,
    }),
    certificate: () => provider.certificate,
    watch(server) {
      let applied = provider.material;
      // The provider calls its identity listeners on every change (certificate, key or CA).
      const onChange = (): void => {
        const next = provider.material;
        if (next === applied) return;
        try {
          server.setSecureContext(secureContextOptions(next));
          applied = next;
        } catch (err) {
          log.error(
            { err, certificate: applied.summary },
            "TLS files cannot be applied; the current ones stay in use",
          );
        }
      };
      server.on("listening", () => provider.addIdentityCertificateListener(onChange));
      server.on("close", () => provider.removeIdentityCertificateListener(onChange));
    },
  };
}

function secureContextOptions(material: TlsMaterial): SecureContextOptions {
  return {
    cert: material.identity?.certificate,
    key: material.identity?.privateKey,
    ca: material.ca,
  };
}
