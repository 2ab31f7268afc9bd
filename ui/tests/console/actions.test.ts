import { describe, expect, it } from 'vitest'
import { buildEventBody, emptyActionForm, missingField, newRequestId } from '../../console/src/logic/actions'
import { addScope, makeScope, scopeKey } from '../../console/src/logic/scope'

const f = (o: Partial<ReturnType<typeof emptyActionForm>>) => ({ ...emptyActionForm(), ...o })

describe('action bodies (the domain serde shapes)', () => {
  it('transfer to a worker, a community, the dispatcher', () => {
    expect(buildEventBody('transferred', f({ to: 'worker', worker_id: 'w1', note: ' x ' }), 0)).toEqual({ kind: 'transferred', payload: { to: { to: 'worker', id: 'w1' }, note: 'x' } })
    expect(buildEventBody('transferred', f({ to: 'community', community_id: 'c1' }), 0).payload.to).toEqual({ to: 'community', id: 'c1' })
    expect(buildEventBody('transferred', f({ to: 'dispatcher' }), 0).payload.to).toEqual({ to: 'dispatcher' })
  })
  it('the other kinds', () => {
    expect(buildEventBody('reviewed', f({ approved: false, note: 'redo' }), 0)).toEqual({ kind: 'reviewed', payload: { approved: false, note: 'redo' } })
    expect(buildEventBody('callback_recorded', f({ satisfaction: 'satisfied' }), 0).payload).toEqual({ satisfaction: 'satisfied', note: '' })
    expect(buildEventBody('whistled', f({ level: 'subdistrict', target: '城管' }), 0).payload).toEqual({ level: 'subdistrict', target: '城管', note: '' })
    expect(buildEventBody('reported_in', f({ target: '城管', note: '到' }), 0).payload).toEqual({ target: '城管', note: '到' })
    expect(buildEventBody('progress_added', f({ note: 'n' }), 0).payload).toEqual({ note: 'n', public: false })
    expect(buildEventBody('closed_as_duplicate', f({ of: ' i1 ' }), 0).payload).toEqual({ of: 'i1', note: '' })
    expect(buildEventBody('cancelled', f({ note: 'why' }), 0).payload).toEqual({ reason: 'why' })
    expect(buildEventBody('note_added', f({ note: 'hi' }), 0).payload).toEqual({ text: 'hi' })
    expect(buildEventBody('urged', f({ note: 'hurry' }), 0).payload).toEqual({ note: 'hurry' })
    expect(buildEventBody('extension_requested', f({ days: 3, note: 'r' }), 1000).payload).toEqual({ until_ms: 1000 + 3 * 86_400_000, reason: 'r' })
  })
  it('what must be filled', () => {
    expect(missingField('reviewed', false, f({ approved: false }))).toBe('note')
    expect(missingField('reviewed', false, f({ approved: true }))).toBeNull()
    expect(missingField('urged', true, f({}))).toBe('note')
    expect(missingField('transferred', false, f({ to: 'worker' }))).toBe('worker')
    expect(missingField('transferred', false, f({ to: 'dispatcher' }))).toBeNull()
    expect(missingField('whistled', false, f({ level: 'community' }))).toBe('target')
    expect(missingField('cancelled', false, f({}))).toBe('note')
    expect(missingField('callback_recorded', false, f({}))).toBe('satisfaction')
  })
  it('request ids are v4 UUIDs, also without randomUUID (plain HTTP)', () => {
    const re = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
    expect(newRequestId()).toMatch(re)
    const ids = new Set(Array.from({ length: 50 }, () => newRequestId({ getRandomValues: (a) => crypto.getRandomValues(a) })))
    expect(ids.size).toBe(50)
    for (const id of ids) expect(id).toMatch(re)
  })
})

describe('scope building', () => {
  it('no repeats; the district covers all', () => {
    let s = addScope([], makeScope('community', 'c1'))
    s = addScope(s, makeScope('community', 'c1'))
    s = addScope(s, makeScope('department', 'cg'))
    expect(s).toEqual([{ level: 'community', code: 'c1' }, { level: 'department', code: 'cg' }])
    expect(s.map(scopeKey)).toEqual(['community:c1', 'department:cg'])
    expect(addScope(s, { level: 'district' })).toEqual([{ level: 'district' }])
  })
})
