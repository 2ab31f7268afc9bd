// The places in the caller's scope (GET /console/places), fetched once per page load and shared
// by every page that names or picks a place.

import { computed, ref } from 'vue'
import { get } from '../api'
import type { Places } from '../types'

const places = ref<Places | null>(null)
let pending: Promise<Places> | null = null

export function loadPlaces(): Promise<Places> {
  if (places.value) return Promise.resolve(places.value)
  pending ??= get<Places>('/console/places').then(
    (p) => (places.value = p),
    (e) => {
      pending = null
      throw e
    },
  )
  return pending
}

export interface CascaderOption { value: string; label: string; children?: CascaderOption[] }

/** Subdistrict → community → courtyard, for el-cascader. */
export function placeTree(p: Places | null): CascaderOption[] {
  if (!p) return []
  return p.subdistricts.map((s) => ({
    value: s.id,
    label: s.name,
    children: p.communities
      .filter((c) => c.subdistrict_id === s.id)
      .map((c) => ({
        value: c.id,
        label: c.name,
        children: p.courtyards.filter((y) => y.community_id === c.id).map((y) => ({ value: y.id, label: y.name })),
      })),
  }))
}

/** The cascader path of a place id (a subdistrict, community or courtyard), or []. */
export function placePath(p: Places | null, id: string): string[] {
  if (!p || !id) return []
  if (p.subdistricts.some((s) => s.id === id)) return [id]
  const c = p.communities.find((x) => x.id === id)
  if (c) return [c.subdistrict_id, c.id]
  const y = p.courtyards.find((x) => x.id === id)
  if (!y) return []
  const yc = p.communities.find((x) => x.id === y.community_id)
  return yc ? [yc.subdistrict_id, yc.id, y.id] : []
}

export function usePlaces() {
  loadPlaces().catch(() => {
    // a page without places still works; its pickers stay empty
  })
  const tree = computed(() => placeTree(places.value))
  /** id (and registry code) → name of every place, for showing tickets and scopes. */
  const names = computed(() => {
    const m: Record<string, string> = {}
    for (const x of [...(places.value?.subdistricts ?? []), ...(places.value?.communities ?? []), ...(places.value?.courtyards ?? [])]) {
      m[x.id] = x.name
      m[x.code] = x.name
    }
    return m
  })
  return { places, tree, names }
}
