// v-test-rows: Element Plus tables give rows no attributes, only classes. Pages mark each row's
// class with `gw-id--<id>` (row-class-name); this copies it into data-test / data-id on the <tr>
// so browser tests can find rows by id, whatever the sort order.

import type { Directive } from 'vue'

const PREFIX = 'gw-id--'

export function rowClass(id: string): string {
  return PREFIX + id
}

function mark(el: HTMLElement, name: string) {
  el.querySelectorAll<HTMLTableRowElement>('tr.el-table__row').forEach((tr) => {
    const cls = Array.from(tr.classList).find((c) => c.startsWith(PREFIX))
    if (!cls) return
    const id = cls.slice(PREFIX.length)
    // `unit-row-` style names carry the id in data-test itself; the rest use data-id.
    const test = name.endsWith('-') ? name + id : name
    if (tr.dataset.test !== test) tr.dataset.test = test
    if (tr.dataset.id !== id) tr.dataset.id = id
  })
}

const observers = new WeakMap<HTMLElement, MutationObserver>()

export const vTestRows: Directive<HTMLElement, string> = {
  mounted(el, b) {
    mark(el, b.value)
    const o = new MutationObserver(() => mark(el, b.value))
    o.observe(el, { childList: true, subtree: true, attributes: true, attributeFilter: ['class'] })
    observers.set(el, o)
  },
  updated(el, b) {
    mark(el, b.value)
  },
  unmounted(el) {
    observers.get(el)?.disconnect()
  },
}
