/**
 * A client of secure aggregation (Bonawitz et al. 2017, "Practical Secure Aggregation for
 * Privacy-Preserving Machine Learning", CCS; Figure 4, semi-honest version). Per aggregation
 * it makes two fresh X25519 key pairs and a fresh self-mask seed b_u, Shamir-shares b_u and
 * the mask key's private half s_u among all clients (t of them reconstruct), and sends
 *
 *   y_u = x_u + PRG(b_u) + Σ_{v ∈ U2, v ≠ u} ±PRG(s_{u,v})   (mod 2^32, + when u < v)
 *
 * where s_{u,v} is the key u and v agree on. The pairwise masks cancel in the sum of all
 * clients; the server removes each survivor's PRG(b_u) and each dropped client's leftover
 * pairwise masks from the shares the survivors reveal, and never learns a single x_u.
 * A client reveals, for each other client, the share of b_v or of s_v — never both, which is
 * what keeps a late (slow, not dropped) client's input hidden.
 */
import { randomBytes } from "node:crypto";
import { AegisError } from "../../../errors.js";
import { agree, generateX25519, KEY_BYTES, open, type RawKeyPair, seal } from "./keys.js";
import type { KeyAdvert, MaskedInput, ProtocolParams, SealedShares, UnmaskingShares } from "./messages.js";
import { addMask } from "./prg.js";
import { SHARE_BYTES, type Share, splitSecret } from "./shamir.js";

/** The shares of one other client's two secrets that this client holds. */
interface HeldShares {
  maskKey: Share;
  selfMask: Share;
}

const SHARE_PLAINTEXT_BYTES = 8 + 2 * SHARE_BYTES;

/** The bytes every party binds to the ciphertext from → to, so a ciphertext cannot be replayed elsewhere. */
export function shareContext(session: string, from: number, to: number): Uint8Array {
  return Buffer.from(`${session}:${from}->${to}`);
}

export class SecAggClient {
  private readonly cipherKeys: RawKeyPair = generateX25519();
  private readonly maskKeys: RawKeyPair = generateX25519();
  private readonly selfMaskSeed = randomBytes(KEY_BYTES);
  private roster = new Map<number, KeyAdvert>();
  /** Clients in U2 (they shared their keys), this one included. */
  private sharers: number[] = [];
  private held = new Map<number, HeldShares>();

  constructor(
    readonly id: number,
    private readonly params: ProtocolParams,
  ) {
    if (!Number.isInteger(id) || id < 1 || id > 0xffffffff)
      throw new AegisError("BAD_OPTION", `a secure-aggregation client id must be an integer from 1 to 2^32 − 1, not ${id}`);
  }

  /** Round 0: the two public keys. */
  advertise(): KeyAdvert {
    return { id: this.id, cipherPublic: this.cipherKeys.publicKey, maskPublic: this.maskKeys.publicKey };
  }

  /** Round 1: shares of s_u and b_u for every client of the roster, each encrypted for its holder. */
  shareKeys(roster: readonly KeyAdvert[]): SealedShares[] {
    const ids = roster.map((a) => a.id);
    if (new Set(ids).size !== ids.length) throw new AegisError("INTEGRITY_FAILED", "the server's roster lists a client twice; refusing to share keys");
    this.requireQuorum(ids.length, "advertised keys");
    const own = roster.find((a) => a.id === this.id);
    if (!own || !sameBytes(own.maskPublic, this.maskKeys.publicKey) || !sameBytes(own.cipherPublic, this.cipherKeys.publicKey))
      throw new AegisError("INTEGRITY_FAILED", `the server's roster does not carry client ${this.id}'s own keys; refusing to share keys`);
    this.roster = new Map(roster.map((a) => [a.id, a]));
    const maskKeyShares = splitSecret(this.maskKeys.privateKey, this.params.threshold, ids);
    const selfMaskShares = splitSecret(this.selfMaskSeed, this.params.threshold, ids);
    const sealed: SealedShares[] = [];
    for (const [i, advert] of roster.entries()) {
      const shares = { maskKey: maskKeyShares[i], selfMask: selfMaskShares[i] };
      if (advert.id === this.id) {
        this.held.set(this.id, shares);
        continue;
      }
      const plaintext = Buffer.alloc(SHARE_PLAINTEXT_BYTES);
      plaintext.writeUInt32BE(this.id, 0);
      plaintext.writeUInt32BE(advert.id, 4);
      plaintext.set(shares.maskKey.y, 8);
      plaintext.set(shares.selfMask.y, 8 + SHARE_BYTES);
      const key = agree(this.cipherKeys.privateKeyObject, advert.cipherPublic, "share-encryption", this.params.session);
      sealed.push({ from: this.id, to: advert.id, ciphertext: seal(key, plaintext, shareContext(this.params.session, this.id, advert.id)) });
    }
    return sealed;
  }

  /** Round 2: opens the shares the server routed here (from the clients of U2) and masks `input`. */
  maskInput(input: Uint32Array, inbox: readonly SealedShares[]): MaskedInput {
    if (input.length !== this.params.length)
      throw new AegisError("SHAPE_MISMATCH", `the input has ${input.length} words and this aggregation expects ${this.params.length}`);
    for (const sealed of inbox) this.openShares(sealed);
    this.sharers = [...new Set([this.id, ...inbox.map((s) => s.from)])].sort((a, b) => a - b);
    this.requireQuorum(this.sharers.length, "shared their keys");
    const masked = Uint32Array.from(input);
    addMask(masked, this.selfMaskSeed, 1);
    for (const v of this.sharers) {
      if (v === this.id) continue;
      const advert = this.roster.get(v) as KeyAdvert;
      addMask(masked, agree(this.maskKeys.privateKeyObject, advert.maskPublic, "mask", this.params.session), this.id < v ? 1 : -1);
    }
    return { id: this.id, masked };
  }

  /** Round 4: for each client of U2, the share of b_v if v is among `survivors` (U3), else of s_v. */
  unmask(survivors: readonly number[]): UnmaskingShares {
    const surviving = new Set(survivors);
    if (surviving.size !== survivors.length) throw new AegisError("INTEGRITY_FAILED", "the server's survivor list names a client twice; refusing to unmask");
    for (const v of surviving) {
      if (!this.sharers.includes(v))
        throw new AegisError("INTEGRITY_FAILED", `the server lists client ${v} as a survivor, but it never shared its keys; refusing to unmask`);
    }
    if (!surviving.has(this.id))
      throw new AegisError("INTEGRITY_FAILED", `the server's survivor list leaves out client ${this.id}, which sent its input; refusing to unmask`);
    this.requireQuorum(surviving.size, "sent masked inputs");
    const response: UnmaskingShares = { id: this.id, selfMasks: [], maskKeys: [] };
    for (const v of this.sharers) {
      const held = this.held.get(v) as HeldShares;
      if (surviving.has(v)) response.selfMasks.push({ of: v, share: held.selfMask });
      else response.maskKeys.push({ of: v, share: held.maskKey });
    }
    return response;
  }

  private openShares(sealed: SealedShares): void {
    const sender = this.roster.get(sealed.from);
    if (sealed.to !== this.id || !sender)
      throw new AegisError("INTEGRITY_FAILED", `a share from client ${sealed.from} to ${sealed.to} was routed to client ${this.id}; refusing it`);
    const key = agree(this.cipherKeys.privateKeyObject, sender.cipherPublic, "share-encryption", this.params.session);
    const plaintext = Buffer.from(
      open(key, sealed.ciphertext, shareContext(this.params.session, sealed.from, this.id), `the share from client ${sealed.from}`),
    );
    if (plaintext.length !== SHARE_PLAINTEXT_BYTES || plaintext.readUInt32BE(0) !== sealed.from || plaintext.readUInt32BE(4) !== this.id)
      throw new AegisError("INTEGRITY_FAILED", `the share from client ${sealed.from} names other parties than its envelope; refusing it`);
    this.held.set(sealed.from, {
      maskKey: { x: this.id, y: plaintext.subarray(8, 8 + SHARE_BYTES) },
      selfMask: { x: this.id, y: plaintext.subarray(8 + SHARE_BYTES) },
    });
  }

  private requireQuorum(count: number, stage: string): void {
    if (count < this.params.threshold) throw tooFew(count, this.params.threshold, stage);
  }
}

/** The refusal when a stage keeps fewer clients than the threshold. */
export function tooFew(count: number, threshold: number, stage: string): AegisError {
  return new AegisError(
    "BAD_OPTION",
    `secure aggregation needs at least t = ${threshold} clients at every stage, and only ${count} ${stage}; the round cannot be unmasked. Sample more clients, or lower the threshold (fewer colluding clients then suffice to unmask one client)`,
  );
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}
