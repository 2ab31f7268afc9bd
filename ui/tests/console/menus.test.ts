import { describe, expect, it } from 'vitest'
import { guardRoute, landingPath, safeNext } from '../../console/src/logic/menus'
import type { Menu } from '../../console/src/types'

const staff = { menus: ['department', 'tickets'] as Menu[] }
const admin = { menus: ['overview', 'tickets', 'intake', 'map', 'visits', 'foresight', 'devices', 'admin'] as Menu[] }

describe('menu guard', () => {
  it('lands on the first menu of the session', () => {
    expect(landingPath(staff.menus)).toBe('/department')
    expect(landingPath(admin.menus)).toBe('/overview')
    expect(landingPath([])).toBeNull()
  })
  it('no session: to the login page, remembering where', () => {
    expect(guardRoute('overview', null, '/overview?x=1')).toEqual({ redirect: '/login?next=%2Foverview%3Fx%3D1' })
    expect(guardRoute('login', null, '/login')).toEqual({ allow: true })
  })
  it('only the session menus', () => {
    expect(guardRoute('tickets', staff, '/tickets')).toEqual({ allow: true })
    expect(guardRoute('department', staff, '/department')).toEqual({ allow: true })
    expect(guardRoute('admin', staff, '/admin')).toEqual({ redirect: '/department' })
    expect(guardRoute('department', admin, '/department')).toEqual({ redirect: '/overview' })
    expect(guardRoute('admin', { menus: [] }, '/admin')).toEqual({ redirect: '/none' })
    expect(guardRoute(undefined, staff, '/none')).toEqual({ allow: true })
    expect(guardRoute('foresight', admin, '/foresight')).toEqual({ allow: true })
    expect(guardRoute('foresight', staff, '/foresight')).toEqual({ redirect: '/department' })
  })
  it('follows `next` only within the console', () => {
    expect(safeNext('/tickets?status=reported')).toBe('/tickets?status=reported')
    expect(safeNext('//evil.example')).toBeNull()
    expect(safeNext('https://evil.example')).toBeNull()
    expect(safeNext('/login')).toBeNull()
    expect(safeNext(undefined)).toBeNull()
  })
})
