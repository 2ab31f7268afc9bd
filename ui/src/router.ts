import { createRouter, createWebHashHistory } from 'vue-router'
import { session } from './session'

export const router = createRouter({
  history: createWebHashHistory(),
  routes: [
    { path: '/', redirect: '/today' },
    { path: '/enrol', component: () => import('./views/EnrolView.vue'), meta: { open: true } },
    { path: '/unlock', component: () => import('./views/UnlockView.vue'), meta: { open: true } },
    { path: '/today', component: () => import('./views/TodayView.vue'), meta: { tab: true } },
    { path: '/courtyards', component: () => import('./views/CourtyardsView.vue'), meta: { tab: true } },
    { path: '/courtyard/:id', component: () => import('./views/CourtyardView.vue') },
    { path: '/visit', component: () => import('./views/VisitView.vue') },
    { path: '/report', component: () => import('./views/ReportView.vue') },
    { path: '/issue/:id', component: () => import('./views/IssueView.vue') },
    { path: '/inbox', component: () => import('./views/InboxView.vue'), meta: { tab: true } },
    { path: '/sync', component: () => import('./views/SyncView.vue'), meta: { tab: true } },
    { path: '/settings', component: () => import('./views/SettingsView.vue'), meta: { tab: true } },
  ],
})

router.beforeEach((to) => {
  const s = session.status
  if (to.meta.open || !s) return true
  if (!s.enrolled) return '/enrol'
  if (!s.unlocked) return '/unlock'
  return true
})
