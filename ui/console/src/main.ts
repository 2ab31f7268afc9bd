import { createApp } from 'vue'
import ElementPlus from 'element-plus'
import 'element-plus/dist/index.css'
import './style.css'
import App from './App.vue'
import { setUnauthorizedHandler } from './api'
import { i18n } from './i18n'
import { router } from './router'
import { dropSession } from './session'

// Any 401 after login (the session expired or was revoked) goes back to the login page.
setUnauthorizedHandler(() => {
  dropSession()
  const here = router.currentRoute.value
  if (here.name !== 'login') router.replace({ name: 'login', query: { next: here.fullPath } })
})

document.documentElement.lang = i18n.global.locale.value
createApp(App).use(ElementPlus).use(i18n).use(router).mount('#app')
