// Maintenance mode as the server tells it: in every hello, and live by the maintenance.*
// events. Sends that waited meanwhile go out as soon as it ends.
import { flush } from "./outbox.js";
import { maintenance } from "./store.js";

export function applyMaintenance(data) {
  const was = maintenance.value;
  maintenance.value = data?.enabled ? data : null;
  if (was && !maintenance.value) flush();
}
