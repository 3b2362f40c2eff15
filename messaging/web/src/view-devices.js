// This principal's devices: list, revoke (after a confirmation step), a code to link another.
import { ApiError, urlPath } from "./api.js";
import { byId, clear, el, timeElement } from "./dom.js";
import { errorText } from "./fr.js";

export class DevicesView {
  #app;

  constructor(app) {
    this.#app = app;
    byId("link-code-button").addEventListener("click", () => this.#linkCode());
  }

  async show() {
    const status = byId("devices-status");
    status.textContent = "";
    let devices;
    try {
      ({ devices } = await this.#app.session.authed("GET", "/v1/devices"));
    } catch (error) {
      status.textContent = errorText(error);
      return;
    }
    const rows = clear(byId("devices-rows"));
    const me = this.#app.session.identity.deviceId;
    for (const device of devices) {
      const action = el("td", {});
      const self = device.id === me;
      const confirmStep = () => {
        clear(action).append(
          el("button", { type: "button", class: "danger", onclick: () => this.#revoke(device, self) }, `Confirmer la révocation de ${device.name}`),
          " ",
          el("button", { type: "button", class: "secondary", onclick: () => this.show() }, "Annuler"));
        action.querySelector("button").focus();
      };
      action.append(el("button", { type: "button", class: "secondary", onclick: confirmStep }, `Révoquer ${device.name}`));
      rows.append(el("tr", { "data-device": device.id },
        el("td", {}, device.name, self ? " (cet appareil)" : ""),
        el("td", {}, device.id),
        el("td", {}, timeElement(device.created_at)),
        action));
    }
  }

  async #revoke(device, self) {
    const status = byId("devices-status");
    try {
      await this.#app.session.authed("DELETE", urlPath("v1", "devices", device.id));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) {
        status.textContent = errorText(error);
        return;
      }
    }
    this.#app.session.forgetEntry(this.#app.session.identity.principal);
    if (self) {
      await this.#app.forgetDevice("Cet appareil a été révoqué ; ses données locales sont effacées.");
      return;
    }
    await this.show();
    status.textContent = `Appareil « ${device.name} » révoqué.`;
  }

  async #linkCode() {
    const status = byId("devices-status");
    try {
      const { code, expires_at: expires } = await this.#app.session.authed("POST", "/v1/devices/enrollment-codes");
      clear(status).append(`Code pour l'autre appareil : `, el("strong", { "data-code": "" }, code), " (valable jusqu'au ", timeElement(expires), ").");
    } catch (error) {
      status.textContent = errorText(error);
    }
  }
}
