import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import en from '../../console/src/i18n/en'
import zhCN from '../../console/src/i18n/zh-CN'
import { messages } from '../../console/src/i18n'
import { ALL_MENUS } from '../../console/src/logic/menus'
import { ROLES } from '../../src/logic/vocab'

type Tree = { [k: string]: string | Tree }
function keys(t: Tree, prefix = ''): string[] {
  return Object.entries(t).flatMap(([k, v]) => (typeof v === 'string' ? [prefix + k] : keys(v, `${prefix}${k}.`)))
}

describe('console i18n', () => {
  const zh = keys(zhCN as Tree)
  const enKeys = keys(en as Tree)
  const all = keys(messages['zh-CN'] as unknown as Tree)
  const allEn = keys(messages.en as unknown as Tree)
  it('both languages have the same keys', () => {
    expect(zh.filter((k) => !enKeys.includes(k))).toEqual([])
    expect(enKeys.filter((k) => !zh.includes(k))).toEqual([])
    expect(all.filter((k) => !allEn.includes(k))).toEqual([])
  })
  it('every menu and role has a label', () => {
    for (const m of ALL_MENUS) expect(all).toContain(`console.menu.${m}`)
    for (const r of ROLES) expect(all).toContain(`vocab.role.${r}`)
  })
  it('every error code the contract names has a Chinese message', () => {
    const codes = [
      'csrf_missing', 'csrf_mismatch', 'username_taken', 'unknown_scope', 'bad_registry_csv', 'not_permitted', 'out_of_scope',
      'invalid_transition', 'invalid_credentials', 'login_locked', 'login_throttled', 'worker_disabled', 'bad_request', 'invalid_token',
      'token_expired', 'token_revoked', 'empty_text', 'unknown_worker', 'assignee_out_of_scope', 'weak_password', 'offline', 'internal',
    ]
    expect(codes.filter((c) => !all.includes(`errors.${c}`))).toEqual([])
  })
  it('every literal t() key used in the console exists', () => {
    const files: string[] = []
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name))
        else if (/\.(vue|ts)$/.test(e.name)) files.push(join(d, e.name))
      }
    }
    walk(join(__dirname, '../../console/src'))
    const used = new Set<string>()
    for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(/\bt\('([a-zA-Z_.]+)'/g)) used.add(m[1])
    expect(used.size).toBeGreaterThan(100)
    expect([...used].filter((k) => !all.includes(k))).toEqual([])
  })
})
