// Process names and messages are data from other users' processes and from tools: made safe for
// a label or a log line. The one sanitizer of process names, whether read from /proc or printed
// by a tool.

/** Names a tool printed (comm, argv[0]): at most this many characters. */
export const MAX_COMM_LENGTH = 64;

/**
 * A process name fit for a label: control characters (C0, DEL, C1) become '?', lone surrogates
 * U+FFFD, at most `max` characters (not UTF-16 units); undefined when nothing is left.
 */
export function sanitizeName(raw: string, max = MAX_COMM_LENGTH): string | undefined {
  const clean = raw
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
  const chars = Array.from(clean);
  const bounded = chars.length > max ? chars.slice(0, max).join('') : clean;
  return bounded === '' ? undefined : bounded;
}

/** A message from a tool, for a log line: control characters become '?', cut at `max` with '…'. */
export function boundMessage(text: string, max: number): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
