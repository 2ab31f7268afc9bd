import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import en from '../src/i18n/en'
import zhCN from '../src/i18n/zh-CN'
import { CATEGORIES, EVENT_KINDS, SATISFACTION, SOURCES, STATUSES, VISIT_MODES } from '../src/logic/vocab'

type Tree = { [k: string]: string | Tree }
function keys(t: Tree, prefix = ''): string[] {
  return Object.entries(t).flatMap(([k, v]) => (typeof v === 'string' ? [prefix + k] : keys(v, `${prefix}${k}.`)))
}
function get(t: Tree, path: string): string | undefined {
  let cur: string | Tree | undefined = t
  for (const p of path.split('.')) cur = typeof cur === 'object' ? cur[p] : undefined
  return typeof cur === 'string' ? cur : undefined
}

describe('i18n completeness', () => {
  const zh = keys(zhCN as Tree)
  const enKeys = keys(en as Tree)
  it('every zh-CN key exists in English', () => {
    expect(zh.filter((k) => !enKeys.includes(k))).toEqual([])
  })
  it('every English key exists in zh-CN', () => {
    expect(enKeys.filter((k) => !zh.includes(k))).toEqual([])
  })
  it('no message is empty, and both languages use the same placeholders', () => {
    for (const k of zh) {
      const a = get(zhCN as Tree, k)!
      const b = get(en as Tree, k)!
      expect(a.trim(), k).not.toBe('')
      expect(b.trim(), k).not.toBe('')
      const ph = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort()
      expect(ph(a), k).toEqual(ph(b))
    }
  })
  it('every vocabulary code has a label', () => {
    const need = [
      ...CATEGORIES.map((c) => `vocab.category.${c.code}`), ...SOURCES.map((s) => `vocab.source.${s}`),
      ...VISIT_MODES.map((m) => `vocab.mode.${m}`), ...SATISFACTION.map((s) => `vocab.satisfaction.${s}`),
      ...STATUSES.map((s) => `vocab.status.${s}`), ...EVENT_KINDS.map((k) => `vocab.event.${k}`),
    ]
    expect(need.filter((k) => !zh.includes(k))).toEqual([])
  })
  it('matches the domain crate labels for categories', () => {
    const vocab = readFileSync(join(__dirname, '../../crates/gridwalk-domain/src/vocab.rs'), 'utf8')
    const re = /=> \("(\w+)", "([^"]+)", "([^"]+)"\)/g
    const labels = new Map<string, [string, string]>()
    for (const m of vocab.matchAll(re)) labels.set(m[1], [m[2], m[3]])
    for (const c of CATEGORIES) {
      expect(labels.get(c.code), c.code).toEqual([get(zhCN as Tree, `vocab.category.${c.code}`), get(en as Tree, `vocab.category.${c.code}`)])
    }
  })
  it('every t() key used in the UI exists', () => {
    const files: string[] = []
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name))
        else if (/\.(vue|ts)$/.test(e.name)) files.push(join(d, e.name))
      }
    }
    walk(join(__dirname, '../src'))
    const used = new Set<string>()
    for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(/\bt\('([a-zA-Z_.]+)'/g)) used.add(m[1])
    expect([...used].filter((k) => !zh.includes(k))).toEqual([])
  })
})
