// The words the client shows, in French; protocol codes stay codes underneath.

const ERRORS = {
  server_unreachable: "Le serveur ne répond pas. Vérifiez la connexion puis réessayez.",
  invalid_enrollment_code: "Ce code d'enregistrement n'est pas valable (inconnu, expiré ou déjà utilisé).",
  bad_signature: "Une signature ne correspond pas.",
  invalid_request: "La demande est incomplète ou mal formée.",
  invalid_token: "La session a expiré ; reconnectez-vous.",
  invalid_challenge: "Cet appareil n'est plus reconnu par le serveur (révoqué ?).",
  unknown_recipient: "Un destinataire est inconnu de l'annuaire.",
  stale_devices: "La liste des appareils des destinataires a changé ; réessayez.",
  envelope_too_large: "Le message est trop volumineux.",
  too_many_blobs: "Un message porte au plus 20 fichiers de plus de 256 Ko.",
  blob_too_large: "Un fichier dépasse la taille maximale acceptée par le serveur.",
  upload_exceeds_size: "L'envoi d'un fichier a dépassé sa taille annoncée ; réessayez.",
  storage_quota_exceeded: "Votre espace de stockage de fichiers est plein ; réessayez plus tard.",
  blob_unavailable: "Un fichier joint n'est pas (ou plus) disponible sur le serveur ; joignez-le de nouveau.",
  blob_lost: "Le serveur a perdu une partie d'un fichier en cours d'envoi ; envoyez le message de nouveau.",
  digest_mismatch: "Un fichier envoyé ne correspond pas à son empreinte ; envoyez le message de nouveau.",
  blob_not_found: "Ce fichier n'existe plus sur le serveur (expiré) ou ne vous est pas destiné.",
  blob_refused: "Fichier refusé : il n'est pas celui que l'expéditeur a signé (altéré ou tronqué). Rien n'a été enregistré.",
  queue_full: "La boîte d'un destinataire est pleine ; réessayez plus tard.",
  rate_limited: "Trop de demandes ; patientez un instant.",
  sender_share_exceeded: "Vos messages remplissent déjà votre part de la boîte d'un destinataire ; réessayez quand il les aura lus.",
  request_timeout: "La demande a mis trop de temps à parvenir au serveur ; vérifiez la connexion puis réessayez.",
  patient_opposed: "Le patient s'oppose aux échanges le concernant avec un destinataire ou avec vous : le message n'a pas été envoyé.",
  recipient_excluded: "Un destinataire ne peut pas recevoir de message lié au dossier (assureur).",
  no_recipient_devices: "Aucun destinataire n'a d'appareil enregistré.",
  no_recipients: "Choisissez au moins un destinataire.",
  unpaired_surrogate: "Le texte contient un caractère invalide (un emoji coupé en deux ?).",
  weak_passphrase: "La phrase de passe doit compter au moins 12 caractères.",
  passphrase_mismatch: "Les deux phrases de passe diffèrent.",
  wrong_passphrase: "Phrase de passe incorrecte.",
  bad_principal: "Identifiant attendu : rpps: suivi de 11 chiffres (ou org:, app:, patient:).",
  ins_format: "L'INS compte 15 caractères : 13 chiffres (2A ou 2B pour la Corse) puis une clé de 2 chiffres.",
  ins_key: "La clé de l'INS ne correspond pas à ses 13 premiers caractères.",
  missing_title: "Indiquez le titre du document.",
  sender_mismatch: "Cet appareil n'est plus autorisé à envoyer (révoqué ?).",
  store_unavailable: "Le service est momentanément indisponible ; réessayez.",
};

/** Why the dossier refused a message (DESIGN §4, RULES.md codes). */
const REFUSALS = {
  dossier_not_found: "aucun DMP ouvert pour cet INS",
  invalid_ins: "INS invalide",
  no_grant: "vous n'avez pas d'autorisation d'écriture sur ce dossier",
  banned: "le patient vous a interdit l'accès à son dossier",
  consent_missing: "le consentement du patient manque",
  closed: "le dossier est clos",
  dossier_closed: "le dossier est clos",
  bad_dossier_wrap: "la clé du document ne s'ouvre pas pour l'hébergeur",
  no_capacity: "vous n'avez pas de qualité de professionnel de santé pour écrire",
};

export function errorText(error) {
  const code = error?.code ?? "";
  return ERRORS[code] ?? `Erreur : ${error?.message || code || "inconnue"}${code ? ` (${code})` : ""}`;
}

export function refusalText(code) {
  return REFUSALS[code] ?? `refus (${code})`;
}

const INVALID = {
  bad_signature: "signature invalide",
  undecryptable: "contenu indéchiffrable",
  malformed_content: "contenu mal formé",
  malformed_event: "événement mal formé",
  unknown_sender: "expéditeur inconnu",
  unknown_sender_device: "appareil expéditeur inconnu",
  bad_server_signature: "signature du serveur invalide",
  unknown_event_type: "type d'événement inconnu",
  bad_checkpoint: "point de contrôle du journal invalide",
  non_canonical: "valeur non canonique",
  unsupported_version: "version d'enveloppe inconnue",
  duplicate_member: "membre répété",
  invalid_request: "JSON illisible",
  invalid_encoding: "pas en UTF-8",
};

export function invalidText(code) {
  return INVALID[code] ?? code;
}

/** A notification in one sentence: what happened to which dossier. */
export function notificationText(n) {
  switch (n.event) {
    case "dossier.document_attached":
      return `Document rattaché au DMP (INS ${n.ins}) : ${n.document}`;
    case "dossier.link_refused":
      return `Rattachement au DMP refusé (INS ${n.ins}) : ${refusalText(n.code)}`;
    case "dossier.accessed":
      return `Accès au DMP (INS ${n.ins}) par ${n.actor} : ${n.action}`;
    case "dossier.emergency_access":
      return `Accès en urgence au DMP (INS ${n.ins}) par ${n.professional} : « ${n.reason} »`;
    default:
      return `Notification ${n.event}${n.ins ? ` (INS ${n.ins})` : ""}`;
  }
}

/** The document types offered in compose; another sender's own type is shown as it came. */
const DOCUMENT_TYPES = {
  "compte-rendu": "compte rendu",
  "lettre-de-liaison": "lettre de liaison",
  ordonnance: "ordonnance",
  "resultat-examen": "résultat d'examen",
  imagerie: "imagerie",
  autre: "autre",
};

export function documentTypeText(type) {
  return DOCUMENT_TYPES[type] ?? type;
}

export const CONNECTION = {
  connecting: "Connexion…",
  live: "En ligne",
  offline: "Hors ligne : nouvelle tentative…",
  displaced: "Cet appareil a été ouvert dans un autre onglet ou une autre fenêtre : réception suspendue ici.",
  failed: "Connexion refusée par le serveur.",
  locked: "",
};
