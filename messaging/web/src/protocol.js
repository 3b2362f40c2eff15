// Protocol constants (DESIGN §2–§5), the JavaScript twin of messaging/models.py and
// messaging/crypto.py. tests/test_web_vectors.py checks in the browser that both agree.

export const CTX = Object.freeze({
  BOX_KEY: "liaison/v1/box-key",
  ENROLL: "liaison/v1/enroll",
  AUTH: "liaison/v1/auth",
  ENVELOPE: "liaison/v1/envelope",
  CONTENT: "liaison/v1/content",
  SERVER_EVENT: "liaison/v1/server-event",
  LOG_CHECKPOINT: "liaison/v1/log-checkpoint",
  BLOB: "liaison/v1/blob",
});

export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const SIGNATURE_BYTES = 64;
// A sealed box adds an ephemeral public key and a MAC (48 bytes) to the 32-byte content key.
export const KEY_WRAP_BYTES = KEY_BYTES + 48;

export const CLOSE_AUTH_FAILED = 4401;
export const CLOSE_DISPLACED = 4409;
export const DOSSIER_KEY = "dossier";
export const MAX_RECIPIENTS = 100;

export const PRINCIPAL_PATTERN =
  /^(rpps:[0-9]{11}|org:[a-z0-9][a-z0-9-]{1,62}|app:[a-z0-9][a-z0-9-]{1,62}|patient:[0-9]{5}(?:[0-9]{2}|2[AB])[0-9]{8})$/;
export const DEVICE_PATTERN = /^dev_[a-z2-7]{26}$/;
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const TIME_PATTERN =
  /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$/;
export const BLOB_ID_PATTERN = /^blb_[a-z2-7]{26}$/;
export const MAX_BLOBS = 20;
export const INS_PATTERN = /^[0-9]{5}(?:[0-9]{2}|2[AB])[0-9]{8}$/;
