/**
 * The messages of the semi-honest protocol of Bonawitz et al. 2017 (Figure 4 without the
 * consistency check and signatures of the actively secure version), and their size on the
 * wire: the payload bytes, without transport framing, which is what the cost table reports.
 *
 * Round 0 AdvertiseKeys → server: a client's two X25519 public keys (c_u for encrypting
 * shares, s_u for masks). Round 1 ShareKeys → server: the client's shares of s_u's private
 * key and of its self-mask seed b_u, one AES-GCM ciphertext per other client, which the
 * server routes. Round 2 MaskedInputCollection → server: y_u. Round 4 Unmasking → server:
 * for each other client, the share of b_v if v survived round 2, of s_v's private key if not.
 */
import type { Share } from "./shamir.js";

export interface ProtocolParams {
  /** t: shares needed to reconstruct a secret, and the fewest clients each round may keep. */
  threshold: number;
  /** Words of the input vector. */
  length: number;
  /** Names this aggregation (e.g. the training round) in every key derivation and ciphertext. */
  session: string;
}

export interface KeyAdvert {
  id: number;
  cipherPublic: Uint8Array;
  maskPublic: Uint8Array;
}

export interface SealedShares {
  from: number;
  to: number;
  /** AES-GCM of from ‖ to ‖ share of s_from ‖ share of b_from under the key from and to agree. */
  ciphertext: Uint8Array;
}

export interface MaskedInput {
  id: number;
  masked: Uint32Array;
}

export interface UnmaskingShares {
  id: number;
  /** Shares of b_v for the survivors v. */
  selfMasks: { of: number; share: Share }[];
  /** Shares of s_v's private key for the clients v that dropped before sending y_v. */
  maskKeys: { of: number; share: Share }[];
}

const ID_BYTES = 4;

export const wireBytes = {
  advert: (a: KeyAdvert) => ID_BYTES + a.cipherPublic.length + a.maskPublic.length,
  sealed: (s: SealedShares) => 2 * ID_BYTES + s.ciphertext.length,
  masked: (m: MaskedInput) => ID_BYTES + 4 * m.masked.length,
  unmasking: (u: UnmaskingShares) => ID_BYTES + [...u.selfMasks, ...u.maskKeys].reduce((sum, e) => sum + ID_BYTES + e.share.y.length, 0),
  ids: (ids: readonly number[]) => ID_BYTES * ids.length,
};
