/**
 * DSSE (Dead Simple Signing Envelope, secure-systems-lab/dsse v1): the signature covers
 * the pre-authentication encoding of payload type and payload, never the JSON around
 * them, so a verifier cannot be tricked into trusting a re-typed or re-encoded payload.
 */

export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";

export interface DsseSignature {
  keyid: string;
  /** Base64 of the signature over PAE(payloadType, payload). */
  sig: string;
}

export interface DsseEnvelope {
  /** Base64 of the payload bytes. */
  payload: string;
  payloadType: string;
  signatures: DsseSignature[];
}

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes as ASCII decimal. */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = Buffer.from(payloadType, "utf8");
  const head = Buffer.from(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `, "utf8");
  return Buffer.concat([head, payload]);
}
