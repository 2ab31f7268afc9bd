// How the console shows times, rates and sizes. Times are always Beijing time (UTC+8, no daylight
// saving), whatever zone the browser is in: the district's staff read the same clock as the
// hotline, and a supervisor travelling with a laptop must not see shifted deadlines.

import type { Ratio } from '../types'

export const BEIJING_OFFSET_MS = 8 * 3_600_000
export const DAY_MS = 86_400_000

const pad = (n: number) => String(n).padStart(2, '0')

/** The calendar fields of an instant as a Beijing clock shows them. */
function beijingParts(ms: number) {
  const d = new Date(ms + BEIJING_OFFSET_MS)
  return { y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes() }
}

/** `YYYY-MM-DD HH:mm` in Beijing time; `—` when there is no time. */
export function formatTime(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return '—'
  const p = beijingParts(ms)
  return `${p.y}-${pad(p.mo)}-${pad(p.d)} ${pad(p.h)}:${pad(p.mi)}`
}

/** `YYYY-MM-DD` in Beijing time. */
export function formatDate(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return '—'
  const p = beijingParts(ms)
  return `${p.y}-${pad(p.mo)}-${pad(p.d)}`
}

/** `MM-DD` in Beijing time (chart axes). */
export function formatMonthDay(ms: number): string {
  const p = beijingParts(ms)
  return `${pad(p.mo)}-${pad(p.d)}`
}

/** The instant a Beijing calendar day (`YYYY-MM-DD`) starts. */
export function beijingDayStart(ymd: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(ymd)
  if (!m) return NaN
  return Date.UTC(+m[1], +m[2] - 1, +m[3]) - BEIJING_OFFSET_MS
}

/** `YYYY-MM-DD HH:mm` read as Beijing time; NaN when malformed. */
export function parseBeijing(text: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim())
  if (!m) return NaN
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], m[6] ? +m[6] : 0) - BEIJING_OFFSET_MS
}

/** A picked date range (inclusive Beijing days) as the API's [from_ms, to_ms): to_ms is the
 *  start of the day after the last picked day, so the whole of that day is included. */
export function dayRangeToMs(range: [string, string] | null | undefined): { from_ms?: number; to_ms?: number } {
  if (!range || !range[0] || !range[1]) return {}
  const from = beijingDayStart(range[0])
  const to = beijingDayStart(range[1]) + DAY_MS
  return Number.isFinite(from) && Number.isFinite(to) ? { from_ms: from, to_ms: to } : {}
}

/** A ratio as a fraction, or null when its denominator is 0 (nothing to measure). */
export function rateValue(r: Ratio | null | undefined): number | null {
  if (!r || !r.denominator) return null
  return r.numerator / r.denominator
}

/** A ratio as a percentage with one decimal (`66.7%`), or `—` when there is nothing to measure. */
export function formatRate(r: Ratio | null | undefined): string {
  const v = rateValue(r)
  return v == null ? '—' : `${(Math.round(v * 1000) / 10).toFixed(1)}%`
}

/** Which way a rate moved from last week to this week (by its one-decimal percentage, so that
 *  the arrow never contradicts the two numbers shown); null when either week has no data. */
export function rateTrend(now: Ratio | null | undefined, before: Ratio | null | undefined): 'up' | 'down' | 'same' | null {
  const a = rateValue(now)
  const b = rateValue(before)
  if (a == null || b == null) return null
  const ra = Math.round(a * 1000)
  const rb = Math.round(b * 1000)
  return ra > rb ? 'up' : ra < rb ? 'down' : 'same'
}

/** Bytes for a progress line: `512 B`, `12.3 KB`, `4.5 MB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`
  return `${(n / 1024 / 1024).toFixed(1)} MB`
}

/** A device's clock offset in seconds with its sign (`+2.5`, `-0.3`), or `—`. */
export function formatOffsetSeconds(ms: number | null | undefined): string {
  if (ms == null) return '—'
  const s = (ms / 1000).toFixed(1)
  return ms > 0 ? `+${s}` : s
}
