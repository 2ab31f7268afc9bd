import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FORMS, extensionUntil, followUpReason, noteRequired, shownOffers } from '../src/logic/actions'
import en from '../src/i18n/en'
import zhCN from '../src/i18n/zh-CN'

const rules = readFileSync(join(__dirname, '../../crates/gridwalk-domain/src/rules.rs'), 'utf8')
/** The domain's ISSUE_ACTIONS, as snake_case codes. */
function issueActions(): string[] {
  const block = rules.slice(rules.indexOf('pub const ISSUE_ACTIONS'), rules.indexOf('];', rules.indexOf('pub const ISSUE_ACTIONS')))
  return [...block.matchAll(/EventKind::(\w+)/g)].map((m) => m[1].replace(/[A-Z]/g, (c, i) => (i ? '_' : '') + c.toLowerCase()))
}

describe('issue actions come from the core', () => {
  it('every action the domain offers has a form, a label and a placeholder in both languages', () => {
    const kinds = issueActions()
    expect(kinds.length).toBeGreaterThan(15)
    expect(kinds.filter((k) => !(k in FORMS))).toEqual([])
    expect(Object.keys(FORMS).filter((k) => !kinds.includes(k))).toEqual([])
    for (const k of kinds) {
      for (const m of [zhCN, en] as unknown as { actions: Record<string, string>; action_ph: Record<string, string> }[]) {
        expect(m.actions[k], `label of ${k}`).toBeTruthy()
        expect(m.action_ph[k], `placeholder of ${k}`).toBeTruthy()
      }
    }
  })
  it('shows exactly the offers, in their order', () => {
    const offers = [
      { kind: 'accepted' as const, note_required: false },
      { kind: 'issue_responded' as const, note_required: false },
      { kind: 'note_added' as const, note_required: true },
    ]
    expect(shownOffers(offers)).toEqual(offers)
    expect(shownOffers([])).toEqual([])
  })
  it('a note is required when the core says so, and for a refusing review', () => {
    expect(noteRequired({ kind: 'progress_added', note_required: true }, true)).toBe(true)
    expect(noteRequired({ kind: 'accepted', note_required: false }, true)).toBe(false)
    expect(noteRequired({ kind: 'reviewed', note_required: false }, true)).toBe(false)
    expect(noteRequired({ kind: 'reviewed', note_required: false }, false)).toBe(true)
  })
  it('no status-based copy of the rules is left in the UI logic', () => {
    const dir = join(__dirname, '../src/logic')
    for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f), 'utf8'), f).not.toMatch(/actionsFor/)
  })
  it('extensions and follow-ups', () => {
    expect(extensionUntil(1_000, 3)).toBe(1_000 + 3 * 86_400_000)
    expect(followUpReason({ urged: 2, review_returns: 1 })).toBe('urged')
    expect(followUpReason({ urged: 0, review_returns: 1 })).toBe('sent_back')
  })
})
