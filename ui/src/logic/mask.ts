// Residents' phone numbers are masked wherever they are shown after entry (138****5678),
// by the same rule as gridwalk_domain::mask_phone.

export function maskPhone(phone: string): string {
  const chars = Array.from(phone)
  const n = chars.length
  if (n <= 4) return '*'.repeat(n)
  const keepHead = n >= 11 ? 3 : 1
  const keepTail = Math.min(4, n - keepHead)
  const hidden = n - keepHead - keepTail
  return chars.slice(0, keepHead).join('') + '*'.repeat(hidden) + chars.slice(n - keepTail).join('')
}

/** A resident's contact for display: name (if any) and the masked phone. */
export function contactLine(name: string | null | undefined, phone: string | null | undefined): string {
  const masked = phone ? maskPhone(phone) : ''
  return [name?.trim(), masked].filter(Boolean).join(' ')
}
