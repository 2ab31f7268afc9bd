// Times as the worker reads them, in the UI's language (24-hour clock in Chinese).

export function formatTime(ms: number | null | undefined, locale: string): string {
  if (ms == null) return '—'
  return new Date(ms).toLocaleString(locale === 'en' ? 'en-GB' : 'zh-CN', {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false,
  })
}
