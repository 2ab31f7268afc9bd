// Tables scroll inside the page (the header and filters stay in view): their height is the
// window's less what is above and below them.

import { onBeforeUnmount, onMounted, ref } from 'vue'

export function useTableHeight(reserved: number, min = 240) {
  const height = ref(Math.max(min, (typeof window !== 'undefined' ? window.innerHeight : 768) - reserved))
  const update = () => (height.value = Math.max(min, window.innerHeight - reserved))
  onMounted(() => window.addEventListener('resize', update))
  onBeforeUnmount(() => window.removeEventListener('resize', update))
  return height
}
