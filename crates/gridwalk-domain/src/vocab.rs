//! The closed vocabularies: categories, sources, visit modes, satisfaction. Each has a stable
//! wire code and zh-CN / English labels; the UI and the dashboard never invent their own.

use serde::{Deserialize, Serialize};

macro_rules! vocab {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => ($code:literal, $zh:literal, $en:literal)),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The stable wire and database code.
            pub fn code(self) -> &'static str { match self { $($name::$variant => $code),+ } }
            pub fn label_zh(self) -> &'static str { match self { $($name::$variant => $zh),+ } }
            pub fn label_en(self) -> &'static str { match self { $($name::$variant => $en),+ } }
            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
        }
    };
}
// Other modules with closed vocabularies (the address matcher's reasons) use the same macro.
pub(crate) use vocab;

vocab!(
    /// What an issue is about (诉求类别).
    Category {
        StreetLight => ("street_light", "路灯不亮", "Street light out"),
        Sanitation => ("sanitation", "环境脏乱", "Environment & sanitation"),
        Leak => ("leak", "跑冒滴漏", "Leaks (water, gas, heating)"),
        IllegalBuilding => ("illegal_building", "私搭乱建", "Illegal building"),
        WallBreaking => ("wall_breaking", "开墙打洞", "Wall-breaking"),
        PropertyManagement => ("property_management", "物业管理", "Property management"),
        ElderlyCare => ("elderly_care", "养老服务", "Elderly care"),
        GarbageSorting => ("garbage_sorting", "垃圾分类", "Garbage sorting"),
        Lift => ("lift", "电梯", "Lifts"),
        Parking => ("parking", "停车管理", "Parking"),
        Noise => ("noise", "噪声扰民", "Noise"),
        Greening => ("greening", "绿化养护", "Greening"),
        Heating => ("heating", "供暖", "Heating"),
        Other => ("other", "其他", "Other"),
    }
);

vocab!(
    /// Where an issue came in (来源).
    IssueSource {
        Visit => ("visit", "走访发现", "Walk-around visit"),
        Hotline => ("hotline_12345", "12345热线", "12345 hotline"),
        MobileCommittee => ("mobile_committee", "移动居委会", "Mobile residents' committee"),
        Online => ("online", "网上渠道", "Online (app, WeChat)"),
        DeliberationHall => ("deliberation_hall", "居民议事厅", "Residents' deliberation hall"),
        /// A task a supervisor made from the early-warning list (未诉先办): nobody complained.
        Proactive => ("proactive", "主动治理", "Proactive task"),
    }
);

vocab!(
    /// How a visit was done (走动式 / 穿透式 / 蹲点式).
    VisitMode {
        WalkThrough => ("walk_through", "走动式", "Walk-through"),
        InDepth => ("in_depth", "穿透式", "In-depth"),
        Stationed => ("stationed", "蹲点式", "Stationed"),
    }
);

vocab!(
    /// The resident's answer on callback (回访满意度).
    Satisfaction {
        Satisfied => ("satisfied", "满意", "Satisfied"),
        BasicallySatisfied => ("basically_satisfied", "基本满意", "Basically satisfied"),
        Dissatisfied => ("dissatisfied", "不满意", "Dissatisfied"),
    }
);

vocab!(
    /// A worker's role.
    Role {
        GridWorker => ("grid_worker", "网格员", "Grid worker"),
        Cadre => ("cadre", "干部", "Cadre"),
        Supervisor => ("supervisor", "督办", "Supervisor"),
        DepartmentStaff => ("department_staff", "部门人员", "Department staff"),
        Admin => ("admin", "管理员", "Administrator"),
    }
);

vocab!(
    /// Where an issue stands.
    IssueStatus {
        Reported => ("reported", "待响应", "Awaiting response"),
        Responded => ("responded", "已响应", "Responded"),
        InProgress => ("in_progress", "办理中", "In progress"),
        Resolved => ("resolved", "已解决待审核", "Resolved, awaiting review"),
        Closed => ("closed", "已办结", "Closed"),
        Duplicate => ("duplicate", "重复件", "Closed as a duplicate"),
        Cancelled => ("cancelled", "已撤销", "Cancelled"),
    }
);

impl IssueStatus {
    /// Open means someone still owes the resident something.
    pub fn is_open(self) -> bool {
        !self.is_final()
    }

    /// Closed, or taken out as a duplicate or a mistake: nothing more is done on it.
    pub fn is_final(self) -> bool {
        matches!(self, IssueStatus::Closed | IssueStatus::Duplicate | IssueStatus::Cancelled)
    }

    /// Whether the issue counts in the three rates: duplicates and cancelled reports do not.
    pub fn counts_in_rates(self) -> bool {
        !matches!(self, IssueStatus::Duplicate | IssueStatus::Cancelled)
    }
}

vocab!(
    /// Why an assignee hands an order back (退单理由).
    ReturnReason {
        NotMyArea => ("not_my_area", "非本辖区", "Not my area"),
        NotMyKind => ("not_my_kind", "非本职责事项", "Not my kind of matter"),
        Duplicate => ("duplicate", "重复派单", "Already dispatched"),
        Other => ("other", "其他", "Other"),
    }
);

vocab!(
    /// Every kind of event, by its stable code. Rules (who may record what, which actions an
    /// issue offers) are tables over these.
    EventKind {
        VisitRecorded => ("visit_recorded", "走访记录", "Visit recorded"),
        IssueReported => ("issue_reported", "上报诉求", "Issue reported"),
        IssueResponded => ("issue_responded", "响应", "Responded"),
        NoteAdded => ("note_added", "备注", "Note"),
        PhotoAttached => ("photo_attached", "照片", "Photo"),
        IssueResolved => ("issue_resolved", "办结反馈", "Resolved"),
        CallbackRecorded => ("callback_recorded", "回访", "Callback"),
        IssueReopened => ("issue_reopened", "重新办理", "Reopened"),
        ProgressAdded => ("progress_added", "工作进展", "Progress"),
        Whistled => ("whistled", "吹哨", "Whistled"),
        ReportedIn => ("reported_in", "报到", "Reported in"),
        IssueClosed => ("issue_closed", "结案", "Closed"),
        Recurred => ("recurred", "复发", "Recurred"),
        RecurrenceFlagged => ("recurrence_flagged", "复发标记", "Recurrence flagged"),
        Pledged => ("pledged", "认领", "Pledged"),
        Assigned => ("assigned", "派单", "Assigned"),
        Accepted => ("accepted", "签收", "Accepted"),
        Returned => ("returned", "退单", "Returned"),
        Transferred => ("transferred", "转派", "Transferred"),
        Urged => ("urged", "催办", "Urged"),
        ExtensionRequested => ("extension_requested", "延期申请", "Extension requested"),
        ExtensionDecided => ("extension_decided", "延期审批", "Extension decided"),
        Reviewed => ("reviewed", "审核", "Reviewed"),
        ClosedAsDuplicate => ("closed_as_duplicate", "重复件关闭", "Closed as duplicate"),
        DuplicateLinked => ("duplicate_linked", "关联重复件", "Duplicate linked"),
        Cancelled => ("cancelled", "撤销", "Cancelled"),
        MeToo => ("me_too", "我也遇到", "Me too"),
        DuplicateSuspected => ("duplicate_suspected", "疑似重复", "Probable duplicate"),
    }
);

vocab!(
    /// The three levels of the whistle (三级吹哨): who calls, and who must report in.
    WhistleLevel {
        PartyBranch => ("party_branch", "支部吹哨、党员报到", "Party branch → party members"),
        Community => ("community", "社区吹哨、科室报到", "Community → subdistrict sections"),
        Subdistrict => ("subdistrict", "街乡吹哨、部门报到", "Subdistrict → district departments"),
    }
);

impl WhistleLevel {
    /// The level an unresolved issue escalates to next, if any.
    pub fn next(self) -> Option<WhistleLevel> {
        match self {
            WhistleLevel::PartyBranch => Some(WhistleLevel::Community),
            WhistleLevel::Community => Some(WhistleLevel::Subdistrict),
            WhistleLevel::Subdistrict => None,
        }
    }
}

vocab!(
    /// What a cadre pledges to solve (the article: every district-level cadre one chronic
    /// problem, every division-level cadre one bottleneck, every grassroots cadre one frequent one).
    PledgeKind {
        Chronic => ("chronic", "老大难问题", "Chronic problem"),
        Bottleneck => ("bottleneck", "瓶颈性问题", "Bottleneck"),
        Frequent => ("frequent", "多发性问题", "Frequent problem"),
    }
);
