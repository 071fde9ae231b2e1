/**
 * Bad messages for the fault scenarios: garbage, truncated envelopes, unknown task names,
 * forged and missing signatures, `__proto__` payloads, malformed task fields, and
 * hostile field values, each with the dead-letter reason it must get from a consumer
 * that holds the signing key.
 *
 * @module
 */

import { defaultCodec, MessageSigner } from "../../mod.ts";
import type { Random } from "./support.ts";

/** One bad message and what the consumer must say about it. */
export interface BadMessage {
  /** What kind of bad. */
  category: string;
  /** The message as written to the queue. */
  data: string;
  /** The dead-letter reason it must get. */
  reason: RegExp;
  /** Whether storages may alter `data` (NUL, lone surrogates): matched by reason only. */
  lossy?: boolean;
}

/** A well-formed task message (the fields `toMessage` writes). */
export function taskMessage(name: string, args: unknown[], extra: object = {}): object {
  return {
    id: crypto.randomUUID(),
    name,
    args,
    retries: 0,
    retryDelay: 0,
    retryBackoff: 0,
    priority: 0,
    ...extra,
  };
}

const SIGNATURE_MISSING = /^cannot decode message: message signature is missing$/;
const SIGNATURE_WRONG = /^cannot decode message: message signature does not match$/;
const SIGNATURE_BAD = /^cannot decode message: message signature (is missing|does not match)$/;

/** How many of each category {@linkcode badMessages} makes, per 1,000. */
export const BAD_MIX: Record<string, number> = {
  garbage: 180,
  truncated: 180,
  "unknown task": 140,
  forged: 140,
  unsigned: 100,
  "__proto__ payload": 160,
  "malformed task": 80,
  "hostile fields": 20,
};

/** Random characters: bytes 0–255 (NUL included) and now and then any UTF-16 code unit. */
function garbage(random: Random): string {
  const length = random.int(0, 160);
  let text = "";
  for (let i = 0; i < length; i++) {
    text += String.fromCharCode(random.next() < 0.9 ? random.int(0, 255) : random.int(0, 0xffff));
  }
  return text;
}

/** A JSON text with every `__proto__` key written with `\u` escapes (JSON.parse reads it back). */
function escapedProto(json: string): string {
  return json.replaceAll('"__proto__"', '"\\u005f\\u005fproto\\u005f\\u005f"');
}

/**
 * `count` bad messages (in {@linkcode BAD_MIX} proportions, shuffled), for a consumer
 * whose instance signs with `signingKey` and knows the task `knownTask`.
 */
export async function badMessages(
  random: Random,
  count: number,
  signingKey: string,
  forgerKey: string,
  knownTask: string,
): Promise<BadMessage[]> {
  const signer = new MessageSigner(signingKey);
  const forger = new MessageSigner(forgerKey);
  const good = () => "1j" + JSON.stringify(taskMessage(knownTask, [random.int(0, 1e6)]));
  const makers: Record<string, () => Promise<BadMessage> | BadMessage> = {
    garbage: () => {
      const data = garbage(random);
      return { category: "garbage", data, reason: SIGNATURE_BAD, lossy: true };
    },
    truncated: async () => {
      const envelope = good();
      if (random.next() < 0.5) {
        // A signed message cut short: the signature no longer matches (or is cut off).
        const signed = await signer.sign(envelope);
        return {
          category: "truncated",
          data: signed.slice(0, random.int(0, signed.length - 1)),
          reason: SIGNATURE_BAD,
        };
      }
      // An envelope cut short, then signed: the codec has to refuse it.
      const data = await signer.sign(envelope.slice(0, random.int(0, envelope.length - 1)));
      return {
        category: "truncated",
        data,
        reason: /^cannot decode message: (malformed JSON message|unknown envelope ".{0,2}")$/,
      };
    },
    "unknown task": async () => {
      const name = random.pick(["report-v2", "send-email", "constructor", "__proto__", "toString"]);
      const onComplete = random.next() < 0.3;
      const message = onComplete
        ? taskMessage(knownTask, [1], { onComplete: taskMessage(name, []) })
        : taskMessage(name, [1, 2]);
      return {
        category: "unknown task",
        data: await signer.sign("1j" + JSON.stringify(message)),
        reason: new RegExp(`^cannot decode message: Unknown task "${name}"$`),
      };
    },
    forged: async () => {
      const envelope = good();
      if (random.next() < 0.5) {
        return { category: "forged", data: await forger.sign(envelope), reason: SIGNATURE_WRONG };
      }
      // A genuine signature of another message, spliced onto this one.
      const other = await signer.sign(good());
      const data = `${other.slice(0, other.indexOf(".") + 1)}${envelope}`;
      return { category: "forged", data, reason: SIGNATURE_WRONG };
    },
    unsigned: () => ({ category: "unsigned", data: good(), reason: SIGNATURE_MISSING }),
    "__proto__ payload": async () => {
      const payload = JSON.parse('{"__proto__": {"polluted": true, "isAdmin": true}}');
      const variants: (() => string)[] = [
        () => "1j" + JSON.stringify(taskMessage(knownTask, [payload])),
        () => "1j" + JSON.stringify({ ...taskMessage(knownTask, [1]), ...payload }),
        () => "1j" + JSON.stringify(taskMessage(knownTask, [{ deep: [{ deeper: payload }] }])),
        () => escapedProto("1j" + JSON.stringify(taskMessage(knownTask, [payload]))),
        // The structured format: an object record whose key is "__proto__".
        () => {
          const encoded = defaultCodec.encode(
            taskMessage(knownTask, [{ when: new Date(0), polluted_: { x: 1 } }]),
          );
          return encoded.replace('"polluted_"', '"__proto__"');
        },
      ];
      return {
        category: "__proto__ payload",
        data: await signer.sign(random.pick(variants)()),
        reason: /^cannot decode message: message contains a "__proto__" key$/,
      };
    },
    "malformed task": async () => {
      const variants: unknown[] = [
        { name: knownTask, args: [1] }, // no id
        { ...taskMessage(knownTask, [1]), args: "1" },
        { ...taskMessage(knownTask, [1]), retries: "3" },
        { ...taskMessage(knownTask, [1]), priority: null },
        { ...taskMessage(knownTask, [1]), chord: 7 },
        { constructor: { prototype: { polluted: true } }, name: knownTask },
        [knownTask, 1],
        "just a string",
      ];
      return {
        category: "malformed task",
        data: await signer.sign("1j" + JSON.stringify(random.pick(variants))),
        reason: /^cannot decode message: Malformed task message: /,
      };
    },
    // Decodable values whose fields break naive code: an error tag whose name cannot
    // become a string, and arguments nested far deeper than any real call.
    "hostile fields": async () => {
      const variants: (() => string)[] = [
        () =>
          "1j" + JSON.stringify(
            taskMessage(knownTask, [{ $deweyTaskError: [{ toString: 1 }, "message"] }]),
          ),
        () => {
          const depth = 100_000; // overflows the stack of either runtime
          return "1j" + JSON.stringify(taskMessage(knownTask, [])).replace(
            '"args":[]',
            `"args":${"[".repeat(depth)}${"]".repeat(depth)}`,
          );
        },
      ];
      return {
        category: "hostile fields",
        data: await signer.sign(random.pick(variants)()),
        reason: /^cannot decode message: /,
      };
    },
  };
  const messages: BadMessage[] = [];
  for (const [category, perThousand] of Object.entries(BAD_MIX)) {
    const n = Math.round((perThousand * count) / 1000);
    for (let i = 0; i < n; i++) messages.push(await makers[category]());
  }
  while (messages.length < count) messages.push(await makers.garbage());
  return messages.slice(0, count);
}
