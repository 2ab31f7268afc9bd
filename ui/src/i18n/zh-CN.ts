// 简体中文（默认）。每个键在 en.ts 里都有对应（单元测试检查）。
export default {
  app: { title: '网格走访', subtitle: '接诉即办 · 未诉先办' },
  nav: { today: '今日', courtyards: '楼院', sync: '同步', settings: '设置' },
  common: {
    save: '保存', cancel: '取消', back: '返回', loading: '加载中…', search: '搜索', none: '暂无', confirm: '确定',
    saved_offline: '已保存在本机，联网后自动同步', more: '加载更多', all: '全部', minutes: '{n} 分钟', seconds: '{n} 秒',
  },
  sync_state: { queued: '待同步', synced: '已同步', rejected: '被退回', withdrawn: '已撤回' },
  enrol: {
    title: '登记本机', intro: '首次使用：连接区平台，登录并设置解锁密码（PIN）。', server: '服务器地址',
    server_ph: 'http://平台地址:端口', username: '用户名', password: '密码', pin: '解锁密码（6–12 位数字）',
    pin2: '再次输入密码', submit: '登记并进入', busy: '正在连接平台…', done: '登记成功，欢迎 {name}',
  },
  unlock: {
    title: '解锁', intro: '输入解锁密码（PIN）', pin: '解锁密码', submit: '解锁', tries_left: '已连续输错 {n} 次',
    locked_out: '输错次数过多，请 {s} 秒后再试', worker: '{name} 的平板',
  },
  today: {
    title: '今日工作', greeting: '{name}，你好', unsynced: '待同步 {n} 条', all_synced: '全部已同步',
    overdue: '已超时', due_soon: '即将超时', pending: '待响应', none_urgent: '没有待响应的诉求',
    my_courtyards: '我的楼院', report: '上报诉求', visit: '记录走访', left: '剩 {t}', late: '超 {t}',
    open_issues: '未办结 {n}', rejected: '{n} 条被平台退回，请到同步页处理',
  },
  courtyards: {
    title: '楼院', search_ph: '搜索楼院、社区、街道（中文）', community: '社区', grid: '管理网格', all_communities: '全部社区',
    all_grids: '全部网格', count: '共 {n} 个', empty: '没有符合条件的楼院',
  },
  courtyard: {
    visits: '走访记录', issues: '未办结诉求', no_visits: '还没有走访记录', no_issues: '没有未办结的诉求',
    residents: '见到居民 {n} 人', record_visit: '记录走访', report_issue: '上报诉求',
  },
  visit: {
    title: '记录走访', courtyard: '楼院', mode: '走访方式', notes: '走访情况', notes_ph: '见闻、居民反映…',
    residents: '见到居民人数', location: '位置', locate: '获取定位', locating: '正在定位…', located: '已定位（±{m} 米）',
    no_geo: '无法获取定位，请手动填写', lat: '纬度', lon: '经度', link: '关联诉求', no_link: '此楼院没有未办结的诉求',
    submit: '保存走访', saved: '走访已保存',
  },
  report: {
    title: '上报诉求', courtyard: '楼院', pick: '选择楼院', search_ph: '输入楼院名搜索', category: '诉求类别',
    source: '来源', description: '诉求内容', description_ph: '描述问题、位置、居民诉求…', contact: '居民联系方式（可选）',
    contact_name: '姓名', contact_phone: '电话', photos: '现场照片', take_photo: '拍照', pick_photo: '选图', submit: '上报', saved: '诉求已上报',
    saved_contact: '联系方式已保存：{c}',
  },
  issue: {
    title: '诉求详情', timeline: '办理过程', respond: '响应（已联系居民）', respond_ph: '联系情况…', note: '添加备注',
    note_ph: '备注内容…', resolve: '办结', resolve_ph: '解决情况…', resolve_photo: '办结照片', callback: '回访',
    callback_ph: '回访记录…', reopen: '重新办理', reopen_ph: '原因…', satisfaction: '满意度', status: '状态',
    received: '接收时间', due: '响应时限', responded: '响应时间', contact: '联系方式', conflict: '冲突（未生效）',
    own_sync: '本机记录', photos: '照片', category: '类别', source: '来源', courtyard: '楼院',
  },
  syncPage: {
    title: '同步', start: '立即同步', cancel: '停止', running: '正在同步…', done: '同步完成：上传 {pushed}，下载 {pulled}',
    failed: '同步失败：{msg}', queue: '待同步队列', queue_count: '{n} 条待同步', queue_empty: '队列为空',
    rejected: '被退回的记录', withdraw: '撤回', withdrawn: '已撤回', last_sync: '上次同步', never: '从未同步',
    offset: '时钟偏差', offset_value: '本机比平台 {dir} {t}', ahead: '快', behind: '慢', photos_pending: '待上传照片 {n} 张',
    phase: { push: '上传记录', pull: '下载更新', photos: '上传照片' }, retrying: '网络不稳，正在重试…', last_error: '上次错误',
    server: '平台地址',
  },
  settings: {
    title: '设置', language: '语言', server: '平台地址', worker: '登录身份', lock: '自动锁定', lock_after: '空闲 {n} 分钟后锁定',
    lock_now: '立即锁定', version: '版本', fullscreen: '全屏', data_dir: '数据',
  },
  errors: {
    wrong_pin: '解锁密码错误', locked_out: '输错次数过多，请稍后再试', locked: '已锁定，请输入解锁密码', not_enrolled: '本机尚未登记',
    already_enrolled: '本机已登记', bad_pin: '解锁密码须为 6–12 位数字', pin_digits: '只能输入数字', pin_length: '须为 6–12 位数字',
    pin_mismatch: '两次输入的密码不一致', bad_server_url: '服务器地址须以 http:// 或 https:// 开头', offline: '无法连接平台，请检查网络',
    server_error: '平台拒绝了请求', device_revoked: '本机已被平台停用，未同步的记录仍保留在本机', empty_text: '请填写此项',
    text_too_long: '内容过长', control_characters: '含有无效字符', bad_phone: '电话号码格式不对', phone_needed: '请填写电话',
    coordinates_out_of_range: '坐标超出范围', too_many_residents: '人数不合理', bad_number: '请输入数字', pick_courtyard: '请选择楼院',
    pick_category: '请选择类别', photo_too_large: '照片太大（上限 10 MB）', not_an_image: '不是照片文件', not_found: '未找到',
    not_rejected: '只有被退回的记录可以撤回', cancelled: '已停止', storage: '本机存储出错', internal: '程序出错',
    unknown: '出错了：{msg}',
  },
  vocab: {
    category: {
      street_light: '路灯不亮', sanitation: '环境脏乱', leak: '跑冒滴漏', illegal_building: '私搭乱建', wall_breaking: '开墙打洞',
      property_management: '物业管理', elderly_care: '养老服务', garbage_sorting: '垃圾分类', lift: '电梯', parking: '停车管理',
      noise: '噪声扰民', greening: '绿化养护', heating: '供暖', other: '其他',
    },
    source: {
      visit: '走访发现', hotline_12345: '12345热线', mobile_committee: '移动居委会', online: '网上渠道',
      deliberation_hall: '居民议事厅',
    },
    mode: { walk_through: '走动式', in_depth: '穿透式', stationed: '蹲点式' },
    satisfaction: { satisfied: '满意', basically_satisfied: '基本满意', dissatisfied: '不满意' },
    status: { reported: '待响应', responded: '已响应', in_progress: '办理中', resolved: '已解决', closed: '已办结' },
    sla: { pending: '待响应', due_soon: '即将超时', overdue: '已超时', met: '按时响应', missed: '超时响应' },
    event: {
      visit_recorded: '记录走访', issue_reported: '上报诉求', issue_responded: '响应', note_added: '备注', photo_attached: '添加照片',
      issue_resolved: '办结', callback_recorded: '回访', issue_reopened: '重新办理', progress_added: '工作进展', whistled: '吹哨',
      reported_in: '报到', issue_closed: '关闭', recurred: '问题复发', recurrence_flagged: '标记为复发', pledged: '认领',
    },
  },
}
