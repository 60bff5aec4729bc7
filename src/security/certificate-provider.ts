/**
 * A grpc-js certificate provider over PEM files that keeps the last good
 * material. grpc-js's own FileWatcherCertificateProvider publishes "no
 * certificate" when a read fails and lets a mismatched pair through, and the
 * server then drops every new connection until the next good read; during a
 * botched rotation that is an outage. Here the files are checked
 * (tls-material.ts) before anything is published: a failed reload is logged
 * and the running certificate stays.
 *
 * The first reading is synchronous, in the constructor, so a bad file fails
 * the start with its config key. The files are then re-read every
 * `refreshIntervalMs` while anyone listens (grpc-js listens while a server
 * port or a channel uses the credentials), and a change is published to the
 * listeners, which apply it to new connections.
 */
import type { experimental } from "@grpc/grpc-js";
import type { Logger } from "pino";
import {
  type CertificateSummary,
  readTlsMaterial,
  sameMaterial,
  type TlsFiles,
  type TlsMaterial,
} from "./tls-material.js";

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

export interface FileCertificateProviderOptions extends TlsFiles {
  readonly refreshIntervalMs: number;
  readonly logger: Logger;
}

export class FileCertificateProvider implements experimental.CertificateProvider {
  readonly #opts: FileCertificateProviderOptions;
  readonly #caListeners = new Set<CaListener>();
  readonly #identityListeners = new Set<IdentityListener>();
  #material: TlsMaterial;
  #timer: NodeJS.Timeout | undefined;
  #paused = false;
  /** The last reload error, so a lasting problem is logged once, not every interval. */
  #lastError: string | undefined;

  /** Throws CredentialFileError (naming the config key) when a file cannot be used. */
  constructor(opts: FileCertificateProviderOptions) {
    this.#opts = opts;
    this.#material = readTlsMaterial(opts);
  }

  /** The leaf certificate in use, if the provider has one. */
  get certificate(): CertificateSummary | undefined {
    return this.#material.summary;
  }

  /** The certificate, key and CA in use: the last good reading of the files. */
  get material(): TlsMaterial {
    return this.#material;
  }

  /** Re-reads the files now; publishes them if they changed and are valid. Returns whether they changed. */
  reload(): boolean {
    const log = this.#opts.logger;
    let next: TlsMaterial;
    try {
      next = readTlsMaterial(this.#opts);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (message !== this.#lastError) {
        this.#lastError = message;
        log.error(
          { err, certificate: this.#material.summary },
          `TLS files cannot be reloaded; the current ones stay in use: ${message}`,
        );
      }
      return false;
    }
    if (this.#lastError !== undefined) {
      this.#lastError = undefined;
      log.info({ tls: this.#opts.configPath }, "TLS files readable again");
    }
    if (sameMaterial(this.#material, next)) return false;
    this.#material = next;
    log.info(
      { tls: this.#opts.configPath, certificate: next.summary },
      "TLS files changed: new connections use them",
    );
    this.#publish();
    return true;
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#caListeners.add(listener);
    this.#startWatching();
    const { ca } = this.#material;
    process.nextTick(listener, ca === undefined ? null : { caCertificate: ca });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#caListeners.delete(listener);
    this.#maybeStopWatching();
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.add(listener);
    this.#startWatching();
    const { identity } = this.#material;
    process.nextTick(listener, identity ?? null);
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.delete(listener);
    this.#maybeStopWatching();
  }

  #publish(): void {
    const { ca, identity } = this.#material;
    for (const listener of this.#identityListeners) listener(identity ?? null);
    for (const listener of this.#caListeners) listener(ca === undefined ? null : { caCertificate: ca });
  }

  #startWatching(): void {
    if (this.#timer !== undefined) return;
    // Listened to again after a pause (a server rebound): catch up with the files first.
    if (this.#paused) this.reload();
    this.#timer = setInterval(() => this.reload(), this.#opts.refreshIntervalMs);
    // The server or channel that listens keeps the process alive, not this timer.
    this.#timer.unref();
  }

  #maybeStopWatching(): void {
    if (this.#caListeners.size > 0 || this.#identityListeners.size > 0) return;
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#paused = true;
  }
}
