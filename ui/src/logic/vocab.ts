// The closed vocabularies' codes in display order, and the category grid's icons (Vant's
// bundled icon font: no network needed).

import type {
  CategoryCode, PledgeKindCode, ReturnReasonCode, RoleCode, SatisfactionCode, SourceCode, StatusCode, VisitModeCode,
  WhistleLevelCode,
} from '../types'

export const CATEGORIES: { code: CategoryCode; icon: string }[] = [
  { code: 'street_light', icon: 'bulb-o' },
  { code: 'sanitation', icon: 'brush-o' },
  { code: 'leak', icon: 'warning-o' },
  { code: 'illegal_building', icon: 'hotel-o' },
  { code: 'wall_breaking', icon: 'shield-o' },
  { code: 'property_management', icon: 'wap-home-o' },
  { code: 'elderly_care', icon: 'friends-o' },
  { code: 'garbage_sorting', icon: 'delete-o' },
  { code: 'lift', icon: 'upgrade' },
  { code: 'parking', icon: 'logistics' },
  { code: 'noise', icon: 'volume-o' },
  { code: 'greening', icon: 'flower-o' },
  { code: 'heating', icon: 'fire-o' },
  { code: 'other', icon: 'more-o' },
]

export const WHISTLE_LEVELS: WhistleLevelCode[] = ['party_branch', 'community', 'subdistrict']
export const PLEDGE_KINDS: PledgeKindCode[] = ['chronic', 'bottleneck', 'frequent']
export const SOURCES: SourceCode[] = ['visit', 'hotline', 'mobile_committee', 'online', 'deliberation_hall', 'proactive']
export const VISIT_MODES: VisitModeCode[] = ['walk_through', 'in_depth', 'stationed']
export const SATISFACTION: SatisfactionCode[] = ['satisfied', 'basically_satisfied', 'dissatisfied']
export const STATUSES: StatusCode[] = ['reported', 'responded', 'in_progress', 'resolved', 'closed', 'duplicate', 'cancelled']
export const RETURN_REASONS: ReturnReasonCode[] = ['not_my_area', 'not_my_kind', 'duplicate', 'other']

export const EVENT_KINDS = [
  'visit_recorded', 'issue_reported', 'issue_responded', 'note_added', 'photo_attached', 'issue_resolved',
  'callback_recorded', 'issue_reopened', 'progress_added', 'whistled', 'reported_in', 'issue_closed', 'recurred',
  'recurrence_flagged', 'pledged', 'assigned', 'accepted', 'returned', 'transferred', 'urged', 'extension_requested',
  'extension_decided', 'reviewed', 'closed_as_duplicate', 'duplicate_linked', 'cancelled', 'me_too', 'duplicate_suspected',
] as const
export const ROLES: RoleCode[] = ['grid_worker', 'cadre', 'supervisor', 'department_staff', 'admin']
