export {
  createModelText,
  defaultModelTextOptions,
  type ModelText,
  type ModelTextField,
  type ModelTextFieldOptions,
  type ModelTextOptions,
} from "./model-text.js";
export { hasVisibleText, normaliseText } from "./normalise.js";
export { truncateUtf8 } from "./truncate.js";
