import type { AccessPolicy } from "./access-policy.js";
import type { BackendStatus } from "./gateway.js";
import type { ServiceName } from "./routing.js";

/** What the gateway process needs to know of one service's emulator. */
export interface BackendState {
  readonly emulator: string;
  readonly port: number;
  readonly logFile: string;
  readonly status: BackendStatus;
}

/** Parent to gateway process, over the IPC channel. */
export type ToGateway =
  | { readonly type: "listen"; readonly host: string; readonly port: number; readonly access: AccessPolicy }
  | {
      readonly type: "state";
      /** Echoed back once applied, so the parent knows the gateway acts on it. */
      readonly sequence: number;
      readonly backends: Partial<Record<ServiceName, BackendState>>;
      readonly health: { readonly status: string };
    };

/** Gateway process to parent. */
export type FromGateway =
  | { readonly type: "listening"; readonly port: number }
  | { readonly type: "applied"; readonly sequence: number }
  | { readonly type: "failed"; readonly code: string | undefined; readonly message: string };
