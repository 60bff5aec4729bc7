/**
 * The URL of a module next to `base` (an `import.meta.url`), with the same
 * extension: `.js` in the build, `.ts` when run from source through a
 * TypeScript loader (tests), so workers and child scripts start either way.
 */
export function siblingModule(base: string, relativeJs: string): URL {
  const ts = base.endsWith(".ts");
  return new URL(ts ? relativeJs.replace(/\.js$/, ".ts") : relativeJs, base);
}

/** Node arguments that run `module`: from source, with this process's loader flags (`--import …`). */
export function nodeArgsFor(module: URL, execArgv: readonly string[]): string[] {
  return module.pathname.endsWith(".ts") ? [...execArgv, module.pathname] : [module.pathname];
}
