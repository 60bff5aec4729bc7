/**
 * The gateway's entry: `createGateway` builds a gateway from one config. The
 * composition root is `gateway/compose.ts`; the lanes, lifecycle and control
 * plane it wires are beside it in `gateway/`.
 */
export { createGateway, type Gateway, type GatewayDeps } from "./gateway/compose.js";
export type { ChangeSource, ConfigControl } from "./gateway/control.js";
