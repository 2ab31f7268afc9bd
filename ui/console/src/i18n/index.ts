// The console's i18n: the tablet's shared messages (vocabulary, errors) with the console's own
// under `console.`. zh-CN by default; the choice is remembered in this browser.

import { createI18n } from 'vue-i18n'
import sharedZh from '../../../src/i18n/zh-CN'
import sharedEn from '../../../src/i18n/en'
import zhCN from './zh-CN'
import en from './en'

export type Locale = 'zh-CN' | 'en'
const KEY = 'gridwalk.console.locale'

export const messages = {
  'zh-CN': { ...sharedZh, console: zhCN },
  en: { ...sharedEn, console: en },
}

export function savedLocale(): Locale {
  const v = typeof localStorage !== 'undefined' ? localStorage.getItem(KEY) : null
  return v === 'en' ? 'en' : 'zh-CN'
}

export const i18n = createI18n({
  legacy: false,
  locale: savedLocale(),
  fallbackLocale: 'zh-CN',
  messages,
})

export function setLocale(l: Locale) {
  i18n.global.locale.value = l
  localStorage.setItem(KEY, l)
  document.documentElement.lang = l
}

/** The Chinese (or English) text for an error code, falling back to the server's message. */
export function errorText(e: { code: string; message: string; body?: Record<string, unknown> }): string {
  const { t, te } = i18n.global
  let text = te(`errors.${e.code}`) ? t(`errors.${e.code}`) : e.message || t('errors.unknown', { msg: e.code })
  const retry = e.body?.retry_after_s
  if (typeof retry === 'number') {
    const more = t('console.login.retry_after', { s: Math.ceil(retry) })
    text += i18n.global.locale.value === 'en' ? ` (${more})` : `（${more}）`
  }
  return text
}
