export { MIN_ADMIN_TOKEN_LENGTH, resolveAdminToken } from "./admin-token.js";
export {
  formatEffectiveConfig,
  loadConfigFile,
  MAX_CONFIG_FILE_BYTES,
  parseConfig,
  readConfigText,
  validateConfig,
} from "./config.js";
export { ADMIN_TOKEN_ENV, type EnvOverrides, LOG_LEVEL_ENV, readEnv } from "./env.js";
export { ConfigError, isConfigError } from "./errors.js";
export {
  type ConfigChange,
  type ConfigPlan,
  isLivePath,
  mergePatch,
  planConfigChange,
  planConfigPatch,
  redactChange,
  redactConfig,
  redactConfigKeepingShape,
} from "./live.js";
export { LIST_FIELDS, MODEL_TEXT_FIELDS, type ModelTextFieldName } from "./model-text-schema.js";
export {
  type BackendConfig,
  type BackendRole,
  type BatchingConfig,
  type ExperimentConfig,
  type GatewayConfig,
  gatewayConfigSchema,
  type LimitsConfig,
  LOG_LEVELS,
  type LoggingConfig,
  type LogLevel,
  type MetricsConfig,
  type ModelTextConfig,
  type ModelTextFieldConfig,
  type RoutingConfig,
  type SampleConfig,
  type ServerConfig,
  type TritonBackendConfig,
  type VllmBackendConfig,
} from "./schema.js";
export { type ConfigWatcher, watchConfigFile } from "./watch.js";
