// Routes of the console, each tagged with the menu that opens it; the guard lets through only
// the menus of the session (and sends a caller without a session to the login page).

import { createRouter, createWebHistory } from 'vue-router'
import { guardRoute, landingPath, MENU_PATHS } from './logic/menus'
import { probeSession, store } from './session'
import type { Menu } from './types'

declare module 'vue-router' {
  interface RouteMeta {
    menu?: Menu | 'login'
  }
}

export const router = createRouter({
  history: createWebHistory('/'),
  routes: [
    { path: '/login', name: 'login', component: () => import('./pages/LoginPage.vue'), meta: { menu: 'login' } },
    { path: MENU_PATHS.overview, name: 'overview', component: () => import('./pages/OverviewPage.vue'), meta: { menu: 'overview' } },
    { path: MENU_PATHS.tickets, name: 'tickets', component: () => import('./pages/TicketsPage.vue'), meta: { menu: 'tickets' } },
    { path: '/tickets/:id', name: 'ticket', component: () => import('./pages/TicketPage.vue'), meta: { menu: 'tickets' }, props: true },
    { path: MENU_PATHS.intake, name: 'intake', component: () => import('./pages/IntakePage.vue'), meta: { menu: 'intake' } },
    { path: MENU_PATHS.department, name: 'department', component: () => import('./pages/DepartmentPage.vue'), meta: { menu: 'department' } },
    { path: MENU_PATHS.map, name: 'map', component: () => import('./pages/MapPage.vue'), meta: { menu: 'map' } },
    { path: MENU_PATHS.visits, name: 'visits', component: () => import('./pages/VisitsPage.vue'), meta: { menu: 'visits' } },
    { path: MENU_PATHS.foresight, name: 'foresight', component: () => import('./pages/ForesightPage.vue'), meta: { menu: 'foresight' } },
    { path: MENU_PATHS.devices, name: 'devices', component: () => import('./pages/DevicesPage.vue'), meta: { menu: 'devices' } },
    { path: MENU_PATHS.admin, name: 'admin', component: () => import('./pages/AdminPage.vue'), meta: { menu: 'admin' } },
    { path: '/none', name: 'none', component: () => import('./pages/NoMenuPage.vue') },
    { path: '/', name: 'home', redirect: () => landingPath(store.session?.menus ?? []) ?? '/none' },
    { path: '/:rest(.*)*', redirect: '/' },
  ],
})

router.beforeEach(async (to) => {
  // On a page load the session is fetched once before the first route is decided.
  if (!store.probed) {
    try {
      await probeSession()
    } catch {
      // the server is unreachable: the login page shows the error on its own attempt
    }
  }
  if (to.name === 'home') return true
  const d = guardRoute(to.meta.menu, store.session, to.fullPath)
  return 'allow' in d ? true : d.redirect
})
