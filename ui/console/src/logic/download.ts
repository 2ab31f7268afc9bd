// The file name of a download, from the server's Content-Disposition header (RFC 6266): the
// UTF-8 `filename*` wins over the plain `filename`, since export names carry Chinese.

export function filenameFromDisposition(header: string | null | undefined, fallback: string): string {
  if (!header) return fallback
  const star = /filename\*\s*=\s*([^;]+)/i.exec(header)
  if (star) {
    let v = star[1].trim().replace(/^"(.*)"$/, '$1')
    // charset'lang'percent-encoded
    const m = /^([\w!#$%&+^`{}~-]*)'[^']*'(.*)$/.exec(v)
    if (m) v = m[2]
    try {
      const name = decodeURIComponent(v)
      if (safe(name)) return safe(name)!
    } catch {
      // a malformed escape: fall back to the plain parameter
    }
  }
  const plain = /(?:^|;)\s*filename\s*=\s*("((?:[^"\\]|\\.)*)"|[^;]+)/i.exec(header)
  if (plain) {
    const name = plain[2] != null ? plain[2].replace(/\\(.)/g, '$1') : plain[1].trim()
    if (safe(name)) return safe(name)!
  }
  return fallback
}

/** The last path segment, so that a header can never name a folder; null when nothing is left. */
function safe(name: string): string | null {
  const base = name.split(/[/\\]/).pop()?.trim() ?? ''
  return base && base !== '.' && base !== '..' ? base : null
}
