// libsodium (the libsodium-wrappers npm package, served under /app/vendor/), loaded once.
import sodium from "../vendor/libsodium-wrappers.mjs";

let loading = null;

export function loadSodium() {
  loading ??= sodium.ready.then(() => sodium);
  return loading;
}
