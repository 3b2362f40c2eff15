// A device's authenticated session: a bearer token on demand, and the verified directory
// (messaging/client/session.py does the same). The token lives in memory only.
import { ApiError, rawRequest, request, urlPath } from "./api.js";
import { authSignature, verifyBoxKeyBinding, verifyServerEvent } from "./crypto.js";
import { b64uDecode, b64uEncode } from "./encoding.js";

export const DIRECTORY_TTL_MS = 300_000;

export class VerificationError extends Error {
  constructor(code, detail) {
    super(detail);
    this.name = "VerificationError";
    this.code = code;
  }
}

function instant(timestamp) {
  return Date.parse(timestamp);
}

/** Every device's box key must be signed by its sign key and belong to the entry. */
function checkEntry(entry, principal) {
  if (entry === null || typeof entry !== "object" || entry.id !== principal || !Array.isArray(entry.devices)) {
    throw new VerificationError("bad_response", `the directory entry of ${principal} is malformed`);
  }
  for (const device of entry.devices) {
    try {
      verifyBoxKeyBinding(b64uDecode(device.sign_key), b64uDecode(device.box_key), b64uDecode(device.box_key_signature));
    } catch {
      throw new VerificationError("bad_box_key_binding", `the box key of ${device.id} is not signed by its sign key`);
    }
    const owned =
      entry.kind === "organisation"
        ? !Array.isArray(entry.members) || entry.members.includes(device.owner)
        : device.owner === entry.id;
    if (!owned) {
      throw new VerificationError("foreign_device", `${device.id} belongs to ${device.owner}, not to ${entry.id}`);
    }
  }
  return entry;
}

export class DeviceSession {
  #token = null;
  #renewAt = 0;
  #login = null;
  #serverInfo = null;
  #entries = new Map();

  constructor(identity) {
    this.identity = identity;
  }

  // authentication

  login() {
    this.#login ??= this.#doLogin().finally(() => {
      this.#login = null;
    });
    return this.#login;
  }

  async #doLogin() {
    const device = this.identity.deviceId;
    const { challenge } = await request("POST", "/v1/auth/challenge", { body: { device } });
    const signature = authSignature(this.identity.keys, b64uDecode(challenge));
    const answer = await request("POST", "/v1/auth/token", {
      body: { device, challenge, signature: b64uEncode(signature) },
    });
    if (answer.principal !== this.identity.principal) {
      throw new VerificationError("principal_mismatch", `the token is for ${answer.principal}`);
    }
    this.#token = answer.token;
    // Renew ahead of expiry, so that a request never starts with a token about to lapse.
    const margin = Math.min(60, answer.expires_in * 0.1);
    this.#renewAt = Date.now() + (answer.expires_in - margin) * 1000;
  }

  async bearer() {
    if (this.#login) await this.#login;
    if (this.#token === null || Date.now() >= this.#renewAt) await this.login();
    return this.#token;
  }

  /** Forget ``rejected`` (a token the server refused), so that the next call logs in again. */
  dropToken(rejected) {
    if (this.#token === rejected) this.#token = null;
  }

  /** ``call`` (request or rawRequest) with this device's token, once more after a fresh login
   * when the server refused the token. */
  async #withToken(call, method, path, options) {
    const token = await this.bearer();
    try {
      return await call(method, path, { ...options, token });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401 && error.code === "invalid_token")) throw error;
    }
    this.dropToken(token);
    return call(method, path, { ...options, token: await this.bearer() });
  }

  authed(method, path, options = {}) {
    return this.#withToken(request, method, path, options);
  }

  /** A Response with a bytes body (blob uploads and downloads). */
  authedRaw(method, path, options = {}) {
    return this.#withToken(rawRequest, method, path, options);
  }

  // directory

  async serverInfo() {
    this.#serverInfo ??= await request("GET", "/v1/server");
    return this.#serverInfo;
  }

  /** A principal's entry, every device's box-key binding verified (cached 5 minutes). */
  async directory(principal, { refresh = false } = {}) {
    const cached = this.#entries.get(principal);
    if (cached && !refresh && Date.now() < cached.expires) return cached.entry;
    const entry = checkEntry(await this.authed("GET", urlPath("v1", "directory", principal)), principal);
    this.#entries.set(principal, { entry, expires: Date.now() + DIRECTORY_TTL_MS });
    return entry;
  }

  forgetEntry(principal) {
    this.#entries.delete(principal);
  }

  async search(q, limit = 20) {
    const answer = await this.authed("GET", "/v1/directory", { params: { q, limit: String(limit) } });
    return answer.principals;
  }

  // verification

  /** The sender device's record: active, or revoked after the server took ``acceptedAt`` in. */
  async senderDevice(sender, deviceId, acceptedAt) {
    for (const refresh of [false, true]) {
      let entry;
      try {
        entry = await this.directory(sender, { refresh });
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          throw new VerificationError("unknown_sender", `${sender} is not known`);
        }
        throw error;
      }
      const device = entry.devices.find((d) => d.id === deviceId);
      if (device) return device;
    }
    try {
      const past = await this.authed("GET", urlPath("v1", "directory", sender, "devices", deviceId));
      // Only its signing key is used, and only for what the server took in before revocation.
      if (past.owner === sender && past.revoked_at && instant(acceptedAt) <= instant(past.revoked_at)) {
        return past;
      }
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
    }
    throw new VerificationError("unknown_sender_device", `${deviceId} is not an active device of ${sender}`);
  }

  async verifyServerSignature(body, signature) {
    const serverKey = b64uDecode((await this.serverInfo()).sign_key);
    try {
      verifyServerEvent(body, b64uDecode(signature), serverKey);
    } catch {
      throw new VerificationError("bad_server_signature", "the event is not signed by the server");
    }
  }
}
