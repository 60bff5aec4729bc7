/**
 * Whether the OpenTelemetry SDK has been loaded into this process. The SDK
 * module sets it when it is first evaluated, so a static import of it from
 * anywhere shows up here too; tests check that tracing off never loads it.
 */
let loaded = false;

export function markTracingSdkLoaded(): void {
  loaded = true;
}

export function isTracingSdkLoaded(): boolean {
  return loaded;
}
