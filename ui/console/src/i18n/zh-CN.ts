// 管理平台（浏览器）的中文文本，默认语言。每个键在 en.ts 里都有对应（单元测试检查）。
// 类别、状态、来源、角色等词表和错误信息与平板共用：../../../src/i18n/zh-CN.ts。
export default {
  title: '网格走访 · 管理平台',
  lang_switch: 'English',
  header: { logout: '退出登录', who: '{name}（{role}）' },
  menu: { overview: '总览', tickets: '工单', intake: '接诉', department: '部门', map: '地图', visits: '走访', foresight: '预警', devices: '设备', admin: '管理' },
  none: { title: '没有可用的页面', text: '您的账号没有可访问的页面，请联系管理员。' },
  login: { title: '登录管理平台', username: '用户名', password: '密码', submit: '登录', retry_after: '请 {s} 秒后再试', missing: '请填写用户名和密码' },
  common: {
    refresh: '刷新', export_csv: '导出 CSV', export_xlsx: '导出 Excel', exporting: '正在导出… 已接收 {bytes}',
    export_rows: '共 {rows} 行', export_done: '已下载 {name}', actions: '操作', confirm: '确定', cancel: '取消', submit: '提交',
    back: '返回', empty: '暂无数据', apply: '查询', reset: '重置', saved: '已保存', close: '关闭', all: '全部', yes: '是', no: '否',
    date_from: '开始日期', date_to: '结束日期', to: '至', copy: '复制', copied: '已复制',
  },
  overview: {
    today_received: '今日受理', today_responded: '今日按时响应', today_overdue: '今日超时', today_resolved: '今日解决',
    rates: '本周与上周', this_week: '本周', last_week: '上周', response: '响应率', resolution: '解决率', satisfaction: '满意率',
    received: '受理量', trend: '近 12 周趋势', units: '各街道本周情况', units_of: '{name}各社区本周情况', unit: '单位',
    back: '返回各街道', as_of: '数据截至 {t}', definition: '口径', drill: '点击街道查看其各社区', week_of: '{d} 起一周',
  },
  tickets: {
    status: '状态', category: '类别', source: '来源', place: '地点', place_ph: '街道 / 社区 / 楼院', assignee: '承办人',
    assignee_ph: '用户名、dispatcher 或 community:编号', overdue: '只看超时', dates: '受理日期', q: '关键词', q_ph: '诉求内容、单号',
    next: '下一页', first: '第一页', total: '共 {n} 条', page_count: '本页 {n} 条', id: '编号', received: '受理时间', courtyard: '楼院',
    due: '响应时限', responded: '响应时间', description: '诉求内容', overdue_tag: '超时', unassigned: '未派',
  },
  ticket: {
    title: '工单详情', contact_name: '联系人', phone: '联系电话', reveal: '查看号码', reveal_note: '查看号码会记录在审计日志中',
    timeline: '办理过程', photos: '照片', point: '位置', no_point: '没有位置信息', whistles: '吹哨报到', actions: '办理',
    no_actions: '当前没有您可办理的操作', community: '社区', subdistrict: '街道', assignee: '承办人', status: '状态', category: '类别',
    source: '来源', received: '受理时间', due: '响应时限', responded: '响应时间', external_ref: '外部单号', description: '诉求内容',
    resolved_at: '解决时间', closed_at: '办结时间', satisfaction: '满意度', duplicate_of: '重复于', cancel_reason: '撤销理由',
    waiting: '待报到', reported_in_at: '{t} 报到', this_courtyard: '本楼院', other_courtyards: '同社区楼院', report_point: '上报位置',
    courtyard: '楼院', empty_timeline: '还没有办理记录',
  },
  action: {
    note: '说明', submit: '提交', accepted: '已记录', duplicate: '这次提交已记录过，未重复记录', to: '转派给',
    to_worker: '网格员', to_community: '社区', to_dispatcher: '区调度台', worker: '网格员', community: '社区', decision: '结果',
    approve: '通过', return: '退回', satisfaction: '满意度', level: '吹哨层级', target: '报到单位', of: '原工单编号', public: '告知居民',
    return_reason: '退单理由', days: '延期', days_n: '{n} 天', pledge_kind: '认领类型',
    missing: {
      note: '请填写说明', satisfaction: '请选择满意度', level: '请选择吹哨层级', target: '请填写报到单位', worker: '请选择网格员',
      community: '请选择社区', of: '请填写原工单编号', return_reason: '请选择退单理由', pledge_kind: '请选择认领类型',
    },
  },
  intake: {
    title: '12345 热线接诉', order_no: '工单号', received_at: '受理时间', category: '类别', description: '诉求内容', contact: '联系人',
    contact_name: '姓名', contact_phone: '电话', place: '地点', by_courtyard: '选择楼院', by_address: '填写地址', courtyard: '楼院',
    courtyard_ph: '街道 / 社区 / 楼院', address: '地址', lat: '纬度', lon: '经度', nearest: '最近的楼院：{name}（{community}），约 {m} 米',
    nearest_hint: '填写坐标后显示最近的楼院', submit: '提交工单', filed: '已立案，派至楼院承办人', filed_again: '该工单号已立案，未重复立案',
    open_ticket: '查看工单', due: '响应时限 {t}', queued: '地址无法落位，已转区调度台', queued_reason: '原因：{reason}', another: '继续接诉',
    missing: { order_no: '请填写工单号', received_at: '请填写受理时间', category: '请选择类别', description: '请填写诉求内容', courtyard: '请选择楼院', address: '请填写地址', point: '纬度和经度须同时填写' },
  },
  department: {
    empty: '没有吹哨到本部门的工单', level: '吹哨层级', target: '报到单位', whistled_at: '吹哨时间', reported_in_at: '报到时间',
    waiting: '待报到', report_in: '报到', progress: '进展',
  },
  map: {
    color_by: '着色', open: '未办结', overdue: '超时', hotspot: '热点', category: '类别', dates: '受理日期', hint: '点击楼院查看其工单',
    count: '{n} 个楼院', hotspot_level: '热点等级 {n}', lat: '纬度', lon: '经度',
  },
  visits: {
    weeks: '统计周数', stale_days: '未走访天数', workers: '网格员走访覆盖（本人负责的楼院）', communities: '社区走访覆盖', stale: '超过 {n} 天未走访的楼院',
    worker: '网格员', username: '用户名', courtyards: '负责楼院', visited: '已走访楼院', community: '社区', courtyard: '楼院',
    last_visit: '最近走访', never: '从未走访',
    visits_n: '走访 {n} 次', flagged_n: '位置存疑 {n}', last_flagged: '其后位置存疑的走访', far_note: '距楼院超过 {m} 米的走访只计为位置存疑，不算走访。',
  },
  foresight: {
    title: '未诉先办 · 预警', as_of: '数据截至 {t}',
    intro: '按强度排列：1 表示刚达到预警线。热点以本期诉求数对前 8 期的泊松 z 值判断；复发、响应率或解决率下降、超期未走访且有诉求的楼院也会列出。',
    warnings: '预警清单', no_warnings: '当前没有预警', strength: '强度', kind: '类型', unit: '单位', reason: '原因',
    kinds: { rising_hotspot: '热点上升', repeated_recurrence: '反复复发', falling_rate: '指标下降', unvisited_with_issues: '未走访有诉求' },
    district: '全区', make_task: '生成任务', hotspots: '近 {days} 天热点', hotspot_rule: '至少 {min} 件且 z ≥ {z}',
    no_hotspots: '当前没有热点', category: '类别', count: '本期件数', baseline: '前 8 期均值',
    task_title: '生成主动治理任务', courtyard: '楼院', description: '任务内容', task_prefix: '【未诉先办】',
    made_to_worker: '任务已生成，已派给楼院的责任网格员', made_to_queue: '任务已生成，楼院未指定责任网格员，已进入社区待派队列',
    open_task: '查看工单',
  },
  devices: {
    id: '编号', name: '设备名', worker: '使用人', username: '用户名', kind: '类型', kinds: { tablet: '平板', console: '浏览器' },
    created: '登记时间', revoked: '停用时间', last_sync: '最近同步', queue_depth: '待同步', oldest_unsent: '最早未同步',
    rejected: '被退回', clock_offset: '时钟偏差（秒）', app_version: '版本', revoke: '停用', active: '在用',
    revoke_confirm: '停用设备“{name}”？停用后它不能再同步。', revoked_ok: '设备已停用',
  },
  admin: {
    tabs: { workers: '人员', devices: '设备', api_keys: 'API 密钥', registry: '名册导入', departments: '部门与分派', audit: '审计日志' },
    workers: {
      add: '添加人员', username: '用户名', name: '姓名', role: '角色', scope: '管辖范围', password: '初始密码',
      password_ph: '至少 12 个字符', status: '状态', enabled: '在用', disabled: '已停用', disable: '停用', enable: '启用',
      reset_password: '重置密码', new_password: '新密码', change_role: '角色与范围', created: '已添加 {name}',
      disable_confirm: '停用 {name} 的账号？其登录与设备令牌将失效。', missing: '请填写用户名、姓名、角色、管辖范围和密码',
    },
    scope: {
      kind: '层级', value: '单位', add: '添加', empty: '尚未设置管辖范围',
      kinds: { district: '全区', subdistrict: '街道', community: '社区', courtyard: '楼院', department: '部门' },
    },
    keys: {
      name: '名称', create: '新建密钥', created: '创建时间', revoked: '作废时间', revoke: '作废', active: '有效',
      revoke_confirm: '作废密钥“{name}”？使用它的系统将无法再调用。', key_once: '密钥只显示这一次，请立即复制并妥善保存：',
    },
    registry: {
      intro: '上传楼院名册（CSV，UTF-8），或把内容粘贴在下面。', file: '选择文件', text_ph: '粘贴 CSV 内容…', submit: '导入',
      done: '已导入 {courtyards} 个楼院（名册第 {version} 版）', line: '行号', message: '问题', bad_lines: '{n} 行有错误',
    },
    departments: { code: '代码', name: '部门', routing: '分派规则', category: '类别', target: '分派给' },
    audit: { actor: '操作人', action: '操作', dates: '日期', older: '更早的记录', newest: '最新', at: '时间', detail: '详情', end: '没有更早的记录了' },
  },
}
