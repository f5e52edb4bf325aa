/**
 * The server of secure aggregation (Bonawitz et al. 2017, Figure 4, semi-honest version).
 * It relays: the roster of public keys (U1), the encrypted shares (from the clients of U2,
 * each to its recipient), and the list of clients whose masked input arrived (U3). From the
 * unmasking responses (U5, at least t) it reconstructs b_u for every survivor and the mask
 * private key s_v for every client that dropped after sharing its keys, regenerates those
 * masks and subtracts them from Σ y_u. What it ends with is Σ_{u ∈ U3} x_u mod 2^32 and
 * nothing finer. Each stage refuses to continue with fewer than t clients, since fewer
 * shares could not unmask the sum; a reconstructed s_v is checked against the public key v
 * advertised, and extra shares against the polynomial (shamir.ts), so an altered share is
 * refused rather than turned into a wrong model update.
 */
import { AegisError } from "../../../errors.js";
import { tooFew } from "./client.js";
import { agree, KEY_BYTES, privateKeyObject, publicKeyOf } from "./keys.js";
import type { KeyAdvert, MaskedInput, ProtocolParams, SealedShares, UnmaskingShares } from "./messages.js";
import { addMask } from "./prg.js";
import { ShareCombiner } from "./shamir.js";

type Stage = "adverts" | "shares" | "inputs" | "unmasking" | "done";

export class SecAggServer {
  private stage: Stage = "adverts";
  private roster = new Map<number, KeyAdvert>();
  private sharers: number[] = [];
  private inputs = new Map<number, Uint32Array>();

  constructor(private readonly params: ProtocolParams) {}

  /** Round 0: the roster U1 every client receives, in id order. */
  collectAdverts(adverts: readonly KeyAdvert[]): KeyAdvert[] {
    this.advance("adverts", "shares");
    for (const advert of adverts) {
      if (this.roster.has(advert.id)) throw new AegisError("INTEGRITY_FAILED", `client ${advert.id} advertised keys twice; refusing the second`);
      if (advert.cipherPublic.length !== KEY_BYTES || advert.maskPublic.length !== KEY_BYTES)
        throw new AegisError("INTEGRITY_FAILED", `client ${advert.id} advertised a public key that is not ${KEY_BYTES} bytes`);
      this.roster.set(advert.id, advert);
    }
    this.requireQuorum(this.roster.size, "advertised keys");
    return [...this.roster.values()].sort((a, b) => a.id - b.id);
  }

  /** Round 1: each sender's ciphertexts, routed by recipient (the inboxes of round 2). U2 is the senders. */
  routeShares(outboxes: readonly (readonly SealedShares[])[]): Map<number, SealedShares[]> {
    this.advance("shares", "inputs");
    const inboxes = new Map<number, SealedShares[]>([...this.roster.keys()].map((id) => [id, []]));
    for (const outbox of outboxes) {
      const from = outbox[0]?.from;
      const recipients = new Set(outbox.map((s) => s.to));
      const complete = recipients.size === this.roster.size - 1 && [...this.roster.keys()].every((id) => id === from || recipients.has(id));
      if (from === undefined || !this.roster.has(from) || outbox.some((s) => s.from !== from) || !complete)
        throw new AegisError("INTEGRITY_FAILED", `client ${from} did not send exactly one share to every other client of the roster; refusing its shares`);
      if (this.sharers.includes(from)) throw new AegisError("INTEGRITY_FAILED", `client ${from} sent its shares twice; refusing the second`);
      this.sharers.push(from);
      for (const sealed of outbox) inboxes.get(sealed.to)?.push(sealed);
    }
    this.sharers.sort((a, b) => a - b);
    this.requireQuorum(this.sharers.length, "shared their keys");
    // A client only hears from the clients of U2, and only U2 goes on.
    const fromSharers = new Map<number, SealedShares[]>();
    for (const id of this.sharers)
      fromSharers.set(
        id,
        (inboxes.get(id) ?? []).filter((s) => this.sharers.includes(s.from)),
      );
    return fromSharers;
  }

  /** Round 2: the masked inputs; returns U3, the survivors every client is told. */
  collectMaskedInputs(inputs: readonly MaskedInput[]): number[] {
    this.advance("inputs", "unmasking");
    for (const { id, masked } of inputs) {
      if (!this.sharers.includes(id)) throw new AegisError("INTEGRITY_FAILED", `client ${id} sent a masked input without having shared its keys; refusing it`);
      if (this.inputs.has(id)) throw new AegisError("INTEGRITY_FAILED", `client ${id} sent its masked input twice; refusing the second`);
      if (masked.length !== this.params.length)
        throw new AegisError("SHAPE_MISMATCH", `client ${id}'s masked input has ${masked.length} words and this aggregation expects ${this.params.length}`);
      this.inputs.set(id, masked);
    }
    this.requireQuorum(this.inputs.size, "sent masked inputs");
    return this.survivors();
  }

  /** Round 4: reconstructs the masks from the survivors' shares and returns Σ_{u ∈ U3} x_u mod 2^32. */
  unmask(responses: readonly UnmaskingShares[]): Uint32Array {
    this.advance("unmasking", "done");
    const survivors = this.survivors();
    const dropped = this.sharers.filter((id) => !this.inputs.has(id));
    const responders = responses.map((r) => r.id);
    for (const r of responses) {
      if (!this.inputs.has(r.id)) throw new AegisError("INTEGRITY_FAILED", `client ${r.id} sent unmasking shares without a masked input; refusing them`);
      const selfOf = r.selfMasks.map((e) => e.of).sort((a, b) => a - b);
      const keyOf = r.maskKeys.map((e) => e.of).sort((a, b) => a - b);
      if (selfOf.join() !== survivors.join() || keyOf.join() !== dropped.join())
        throw new AegisError("INTEGRITY_FAILED", `client ${r.id}'s unmasking shares do not match the survivors and the dropped clients; refusing them`);
    }
    this.requireQuorum(new Set(responders).size, "sent unmasking shares");
    const combiner = new ShareCombiner(responders, this.params.threshold);
    const shareOf = (kind: "selfMasks" | "maskKeys", of: number) => {
      const byResponder = new Map(responses.map((r) => [r.id, r[kind].find((e) => e.of === of)?.share.y as Uint8Array]));
      return (x: number) => byResponder.get(x) as Uint8Array;
    };

    const sum = new Uint32Array(this.params.length);
    for (const masked of this.inputs.values()) for (let i = 0; i < sum.length; i++) sum[i] = sum[i] + masked[i];
    for (const u of survivors) addMask(sum, combiner.combine(shareOf("selfMasks", u), KEY_BYTES), -1);
    for (const v of dropped) {
      const maskKey = combiner.combine(shareOf("maskKeys", v), KEY_BYTES);
      const advertised = (this.roster.get(v) as KeyAdvert).maskPublic;
      if (!Buffer.from(publicKeyOf(maskKey)).equals(Buffer.from(advertised)))
        throw new AegisError(
          "INTEGRITY_FAILED",
          `the mask key reconstructed for dropped client ${v} does not match the public key it advertised: a share was altered; refusing to unmask`,
        );
      // Survivor u added sign(u, v)·PRG(s_{u,v}) with nobody to cancel it: take it out.
      const parsed = privateKeyObject(maskKey);
      for (const u of survivors) addMask(sum, agree(parsed, (this.roster.get(u) as KeyAdvert).maskPublic, "mask", this.params.session), u < v ? -1 : 1);
    }
    return sum;
  }

  /** U3 in id order. */
  survivors(): number[] {
    return [...this.inputs.keys()].sort((a, b) => a - b);
  }

  private advance(expected: Stage, next: Stage): void {
    if (this.stage !== expected)
      throw new AegisError("INTEGRITY_FAILED", `secure aggregation is at stage "${this.stage}", not "${expected}"; each stage runs once, in order`);
    this.stage = next;
  }

  private requireQuorum(count: number, stage: string): void {
    if (count < this.params.threshold) throw tooFew(count, this.params.threshold, stage);
  }
}
