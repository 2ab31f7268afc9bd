// Downloads of a list (GET /console/export/{list}.{csv|xlsx}?filters) with a progress bar: the
// body is read as a stream so the page can show the bytes received (and, with Content-Length,
// a percentage; X-Total-Rows tells the rows), then saved through a Blob URL and an <a download>
// click, under the name the server gives in Content-Disposition.

import { ref, unref, type MaybeRef } from 'vue'
import { API_BASE, ApiError, errorOf, headersFor } from '../api'
import { filenameFromDisposition } from '../logic/download'
import { toQuery, type QueryValue } from '../logic/query'

export type ExportFormat = 'csv' | 'xlsx'

export function useExport(list: MaybeRef<string>, params: () => Record<string, QueryValue>) {
  const running = ref(false)
  const bytes = ref(0)
  const total = ref<number | null>(null)
  const rows = ref<number | null>(null)
  const done = ref<string | null>(null)
  const error = ref<ApiError | null>(null)

  async function start(format: ExportFormat) {
    if (running.value) return
    running.value = true
    bytes.value = 0
    total.value = null
    rows.value = null
    done.value = null
    error.value = null
    const name = unref(list)
    const qs = toQuery(params())
    try {
      let res: Response
      try {
        res = await fetch(`${API_BASE}/console/export/${name}.${format}${qs ? `?${qs}` : ''}`, {
          headers: headersFor('GET', { Accept: '*/*' }),
          credentials: 'same-origin',
        })
      } catch (e) {
        throw new ApiError('offline', String(e))
      }
      if (!res.ok) throw await errorOf(res)
      const rowHeader = res.headers.get('X-Total-Rows')
      rows.value = rowHeader != null && rowHeader !== '' && Number.isFinite(+rowHeader) ? +rowHeader : null
      const len = res.headers.get('Content-Length')
      total.value = len && +len > 0 ? +len : null
      const chunks: Uint8Array[] = []
      const reader = res.body?.getReader()
      if (reader) {
        for (;;) {
          const { done: end, value } = await reader.read()
          if (end) break
          chunks.push(value)
          bytes.value += value.byteLength
        }
      } else {
        const buf = new Uint8Array(await res.arrayBuffer())
        chunks.push(buf)
        bytes.value = buf.byteLength
      }
      const type = res.headers.get('Content-Type') ?? (format === 'csv' ? 'text/csv' : 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')
      const filename = filenameFromDisposition(res.headers.get('Content-Disposition'), `${name}.${format}`)
      saveBlob(new Blob(chunks as BlobPart[], { type }), filename)
      done.value = filename
    } catch (e) {
      error.value = e instanceof ApiError ? e : new ApiError('internal', String(e))
    } finally {
      running.value = false
    }
  }

  return { start, running, bytes, total, rows, done, error }
}

export function saveBlob(blob: Blob, filename: string) {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  a.style.display = 'none'
  document.body.appendChild(a)
  a.click()
  a.remove()
  // Revoked a moment later: some browsers start the download asynchronously after the click.
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}
