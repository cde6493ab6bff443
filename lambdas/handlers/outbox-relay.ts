import { outboxRelay } from "../runtime/index.js";

/** Publishes the outbox rows that transactional handlers commit, to their topics and streams. */
export const handler = outboxRelay();
