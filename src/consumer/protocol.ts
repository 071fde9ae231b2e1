/**
 * The line protocol between a consumer and its `process` workers. The parent writes one
 * JSON object per line to the child's stdin; the child answers on stdout with lines that
 * start with a marker, so stray output from user code cannot be mistaken for a reply.
 *
 * @module
 */

/** Parent → child: run this message. */
export interface RunRequest {
  seq: number;
  data: string;
}

/** Child → parent. */
export type ChildReply =
  | { type: "ready" }
  | { type: "signal"; seq: number; signal: string; name: string; id: string; error?: string }
  | { type: "done"; seq: number }
  | { type: "failed"; seq: number; error: string };

/** Starts every reply line. */
export const REPLY_MARK = "\u001edewey:";

/** One reply as a line. */
export function replyLine(reply: ChildReply): string {
  return `${REPLY_MARK}${JSON.stringify(reply)}\n`;
}

/** The reply in `line`, or `undefined` when the line is not one. */
export function parseReply(line: string): ChildReply | undefined {
  if (!line.startsWith(REPLY_MARK)) return undefined;
  try {
    return JSON.parse(line.slice(REPLY_MARK.length)) as ChildReply;
  } catch {
    return undefined;
  }
}
