// ID-1: the INS (matricule INS, the patient's national health identifier) and its 2-digit key,
// checked locally before anything is sent (dossier_link/identifiers.py does the same).
import { INS_PATTERN } from "./protocol.js";

// Corsica's departments are letters in the INS; the key is computed on numeric stand-ins.
const CORSICA = { "2A": "19", "2B": "18" };

export function insKey(first13) {
  const department = first13.slice(5, 7);
  const digits = first13.slice(0, 5) + (CORSICA[department] ?? department) + first13.slice(7);
  return 97 - Number(BigInt(digits) % 97n);
}

/** null when ``ins`` is a well-formed INS with the right key, else the reason (a code). */
export function insProblem(ins) {
  if (!INS_PATTERN.test(ins)) return "ins_format";
  return Number(ins.slice(13)) === insKey(ins.slice(0, 13)) ? null : "ins_key";
}
