// The console's one door to the server. Same origin, the session cookie (HttpOnly) goes along
// by itself; every state-changing call carries the session's CSRF token, which lives only in
// memory (never in storage a script from elsewhere could read).

import type { ErrorBody } from '../../src/types'

export const API_BASE = '/api/v1'

/** A `{code, message}` refusal (or `offline`), with the rest of the body (e.g. `lines` of a bad
 *  registry, `retry_after_s` of a throttled login). */
export class ApiError extends Error {
  constructor(
    public code: string,
    message: string,
    public status = 0,
    public body: Record<string, unknown> = {},
  ) {
    super(message)
  }
}

let csrfToken: string | null = null
let onUnauthorized: (() => void) | null = null

export function setCsrfToken(t: string | null) {
  csrfToken = t
}

/** What to do when the server answers 401 (the session is gone): the app goes to login. */
export function setUnauthorizedHandler(f: () => void) {
  onUnauthorized = f
}

export function headersFor(method: string, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { Accept: 'application/json', ...extra }
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) h['X-CSRF-Token'] = csrfToken
  return h
}

/** The ApiError for a failed response: its JSON `{code, message}` when there is one. */
export async function errorOf(res: Response): Promise<ApiError> {
  let body: Record<string, unknown> = {}
  try {
    body = (await res.json()) as Record<string, unknown>
  } catch {
    // not JSON (a proxy's error page): the status says it
  }
  const e = body as Partial<ErrorBody>
  const code = typeof e.code === 'string' ? e.code : res.status === 401 ? 'invalid_token' : res.status >= 500 ? 'internal' : 'bad_request'
  return new ApiError(code, typeof e.message === 'string' ? e.message : `HTTP ${res.status}`, res.status, body)
}

export interface RequestOptions {
  body?: unknown
  /** Send `body` as it is with this Content-Type (the registry's CSV) instead of JSON. */
  contentType?: string
  /** Leave a 401 to the caller (the session probe at start-up and login itself). */
  quiet401?: boolean
}

export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<{ status: number; data: T }> {
  const extra: Record<string, string> = {}
  let body: BodyInit | undefined
  if (opts.body !== undefined) {
    extra['Content-Type'] = opts.contentType ?? 'application/json'
    body = opts.contentType ? (opts.body as BodyInit) : JSON.stringify(opts.body)
  }
  let res: Response
  try {
    res = await fetch(API_BASE + path, { method, headers: headersFor(method, extra), body, credentials: 'same-origin' })
  } catch (e) {
    throw new ApiError('offline', String(e))
  }
  if (!res.ok) {
    const err = await errorOf(res)
    if (res.status === 401 && !opts.quiet401) onUnauthorized?.()
    throw err
  }
  if (res.status === 204) return { status: 204, data: undefined as T }
  const text = await res.text()
  return { status: res.status, data: (text ? JSON.parse(text) : undefined) as T }
}

export const get = async <T>(path: string, opts?: RequestOptions) => (await request<T>('GET', path, opts)).data
export const post = async <T>(path: string, body?: unknown, opts?: RequestOptions) =>
  (await request<T>('POST', path, { ...opts, body: body ?? {} })).data

export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e
  return new ApiError('internal', String(e))
}
