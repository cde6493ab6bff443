/**
 * Child-process entry of the gateway. It runs apart from the process that started the local cloud so that
 * nothing that process does can starve it: a `spawnSync` (or any long synchronous work) there blocks only
 * that process's event loop, while the child it spawned calls AWS through this one. The parent pushes the
 * emulators' state over IPC; when the channel closes (the parent stopped the cloud, or died), this exits.
 */
import type { Backend } from "./gateway.js";
import { Gateway } from "./gateway.js";
import type { BackendState, FromGateway, ToGateway } from "./gateway-messages.js";
import type { ServiceName } from "./routing.js";

let backends: Partial<Record<ServiceName, BackendState>> = {};
// Until the parent's first state arrives (it creates the emulators after the gateway listens), /health
// still names what it waits for: a script polling from the first moment gets a reason, not a bare 503.
let health: { readonly status: string; readonly message?: string } = {
  status: "starting",
  message: "Still starting: the emulators (sns, sqs, kinesis, dynamodb) are being launched.",
};
let gateway: Gateway | undefined;

const send = (message: FromGateway) => process.send?.(message);

const backendFor = (service: ServiceName): Backend | undefined => {
  const state = backends[service];
  return state && { ...state, status: () => state.status };
};

process.on("message", (message: ToGateway) => {
  if (message.type === "state") {
    backends = message.backends;
    health = message.health;
    send({ type: "applied", sequence: message.sequence });
    return;
  }
  Gateway.listen({ ...message, backendFor, health: async () => health }).then(
    (listening) => {
      gateway = listening;
      send({ type: "listening", port: listening.port });
    },
    (error: NodeJS.ErrnoException) => {
      const cause = error.cause as NodeJS.ErrnoException | undefined;
      send({ type: "failed", code: cause?.code ?? error.code, message: error.message });
    },
  );
});

process.on("disconnect", () => {
  void (gateway?.close() ?? Promise.resolve()).finally(() => process.exit(0));
});
// Ctrl-C in the terminal reaches the whole foreground group; the parent decides when the gateway stops.
for (const signal of ["SIGINT", "SIGHUP"] as const) process.on(signal, () => {});
