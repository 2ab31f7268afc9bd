//! The authorisation matrix on a real server (in-process, 127.0.0.1:0): every role × a target
//! inside / outside the worker's scope × every scoped endpoint, table-driven.

use gridwalk_domain::*;
use gridwalk_e2e::server::{add_worker, load_demo, login, push, start_in_process, two_places, PASSWORD};
use gridwalk_proto::*;
use reqwest::StatusCode;

/// The password the own-password cells change to and back from.
const OTHER_PASSWORD: &str = "another horse battery";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    PushReport,
    PullSeesIssue,
    GetIssue,
    ListIssuesOfCourtyard,
    ListVisitsOfCourtyard,
    RegistryHasCourtyard,
    HotlineIntake,
    IssueNotices,
    /// The dispatcher's desk lists the issue (it waits in its community's supervisor queue).
    DispatchDeskSeesIssue,
    /// The hotline centre's callback (the seeded orders are not resolved: in scope the desk
    /// gets as far as `not_resolved`).
    HotlineCallback,
    /// Worker management (admins only): the target is a worker inside / outside the caller's
    /// subdistrict; it is not scoped by place, so an admin manages both.
    DisableWorker,
    EnableWorker,
    ResetPassword,
    ChangeRole,
    /// One's own password, with the current one: every role, and no place involved (the
    /// "outside" cell changes it back).
    OwnPassword,
    /// 走访覆盖 lists the courtyard (supervisors, admins, cadres): every courtyard in scope, none
    /// outside it.
    CoverageListsCourtyard,
    /// A proactive task at the courtyard (supervisors, admins).
    ProactiveTask,
}

const ENDPOINTS: [Endpoint; 17] = [
    Endpoint::PushReport,
    Endpoint::PullSeesIssue,
    Endpoint::GetIssue,
    Endpoint::ListIssuesOfCourtyard,
    Endpoint::ListVisitsOfCourtyard,
    Endpoint::RegistryHasCourtyard,
    Endpoint::HotlineIntake,
    Endpoint::IssueNotices,
    Endpoint::DispatchDeskSeesIssue,
    Endpoint::HotlineCallback,
    Endpoint::DisableWorker,
    Endpoint::EnableWorker,
    Endpoint::ResetPassword,
    Endpoint::ChangeRole,
    Endpoint::OwnPassword,
    Endpoint::CoverageListsCourtyard,
    Endpoint::ProactiveTask,
];

/// What a (role, endpoint, in scope?) cell must give: "ok", or the error / rejection code.
fn expected(role: Role, endpoint: Endpoint, in_scope: bool) -> &'static str {
    match (endpoint, in_scope) {
        (Endpoint::DisableWorker | Endpoint::EnableWorker | Endpoint::ResetPassword | Endpoint::ChangeRole, _) => {
            if role == Role::Admin {
                "ok"
            } else {
                "forbidden"
            }
        }
        (Endpoint::OwnPassword, _) => "ok",
        (Endpoint::CoverageListsCourtyard, _) if !matches!(role, Role::Supervisor | Role::Admin | Role::Cadre) => "forbidden",
        (Endpoint::ProactiveTask, _) if !matches!(role, Role::Supervisor | Role::Admin) => "forbidden",
        (Endpoint::CoverageListsCourtyard, false) => "absent",
        (Endpoint::HotlineIntake | Endpoint::IssueNotices | Endpoint::DispatchDeskSeesIssue | Endpoint::HotlineCallback, _)
            if !matches!(role, Role::Supervisor | Role::Admin) =>
        {
            "forbidden"
        }
        // Department staff answer what is whistled to them; they do not file reports.
        (Endpoint::PushReport, true) if role == Role::DepartmentStaff => "not_permitted",
        (Endpoint::HotlineCallback, true) => "not_resolved",
        (_, true) => "ok",
        (Endpoint::PushReport, false) => "out_of_scope",
        (Endpoint::PullSeesIssue | Endpoint::RegistryHasCourtyard | Endpoint::DispatchDeskSeesIssue, false) => "absent",
        (_, false) => "out_of_scope",
    }
}

async fn error_code(resp: reqwest::Response) -> String {
    if resp.status().is_success() {
        return "ok".into();
    }
    let body: ErrorBody = resp.json().await.expect("errors are {code, message}");
    body.code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorisation_matrix_every_role_by_scope_by_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ((yard_in, sub_in), (yard_out, sub_out)) = two_places();
    load_demo(dir.path());
    add_worker(dir.path(), "hq", Role::Admin, vec![ScopeUnit::District]);
    for role in Role::ALL {
        add_worker(dir.path(), role.code(), *role, vec![ScopeUnit::Subdistrict(sub_in.clone())]);
    }
    // The workers the management routes act on, one inside the callers' subdistrict, one outside.
    add_worker(dir.path(), "target-in", Role::GridWorker, vec![ScopeUnit::Subdistrict(sub_in.clone())]);
    add_worker(dir.path(), "target-out", Role::GridWorker, vec![ScopeUnit::Subdistrict(sub_out.clone())]);
    let (base, _server) = start_in_process(dir.path());
    let http = reqwest::Client::new();
    // One hotline issue in each courtyard, taken in by a district admin.
    let hq = login(&http, &base, "hq").await;
    let mut issues = Vec::new();
    for (i, yard) in [&yard_in, &yard_out].into_iter().enumerate() {
        let order = HotlineIntake {
            order_no: format!("seed-{i}"),
            place: IntakePlace::Courtyard { courtyard_id: yard.id },
            category: "noise".into(),
            description: "夜间施工噪声".into(),
            received_at_ms: 1_760_000_000_000,
            contact: None,
        };
        let r: HotlineIntakeResponse = http
            .post(format!("{base}/api/v1/hotline/intake"))
            .bearer_auth(&hq.token)
            .json(&order)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        issues.push(r.issue_id);
    }

    let mut failures = Vec::new();
    let mut cells = 0;
    for role in Role::ALL {
        let who = login(&http, &base, role.code()).await;
        let mut seq = 0u64;
        for endpoint in ENDPOINTS {
            for in_scope in [true, false] {
                let (yard, issue) = if in_scope { (&yard_in, issues[0]) } else { (&yard_out, issues[1]) };
                let auth = |rb: reqwest::RequestBuilder| rb.bearer_auth(&who.token);
                let got: String = match endpoint {
                    Endpoint::PushReport => {
                        seq += 1;
                        let ms = gridwalk_e2e::server::recent_ms() + seq as i64;
                        // Per device: an id belongs to its first stored report, so every role reports its own.
                        let id = IssueId::from_parts(ms as u64, auth_bits(&who, seq));
                        let event = Event {
                            id: EventId::from_parts(ms as u64, auth_bits(&who, seq)),
                            author: who.worker.id,
                            device: who.device_id,
                            hlc: Hlc::new(ms, 0),
                            wall_ms: ms,
                            clock_offset_ms: 0,
                            entity: Entity::Issue(id),
                            body: EventBody::IssueReported(IssueReport {
                                courtyard: yard.id,
                                category: Category::Parking,
                                source: IssueSource::Visit,
                                description: "乱停车".into(),
                                contact: None,
                                location: None,
                                received_at_ms: None,
                                external_ref: None,
                            }),
                        };
                        let req = PushRequest { device_id: who.device_id, events: vec![LoggedEvent { seq, event }] };
                        match push(&http, &base, &who.token, &req).await.expect("push answers").results[0].outcome.clone() {
                            PushOutcome::Accepted => "ok".into(),
                            PushOutcome::Rejected { code, .. } => code,
                            other => format!("{other:?}"),
                        }
                    }
                    Endpoint::PullSeesIssue => {
                        let r: PullResponse =
                            auth(http.get(format!("{base}/api/v1/sync/pull?after=0"))).send().await.unwrap().json().await.unwrap();
                        let seen = r.events.iter().any(|e| e.event.entity == Entity::Issue(issue));
                        if seen { "ok" } else { "absent" }.into()
                    }
                    Endpoint::GetIssue => error_code(auth(http.get(format!("{base}/api/v1/issues/{issue}"))).send().await.unwrap()).await,
                    Endpoint::IssueNotices => {
                        error_code(auth(http.get(format!("{base}/api/v1/issues/{issue}/notices"))).send().await.unwrap()).await
                    }
                    Endpoint::HotlineCallback => {
                        let cb = HotlineCallback {
                            order_no: format!("seed-{}", usize::from(!in_scope)),
                            satisfaction: "satisfied".into(),
                            note: String::new(),
                        };
                        error_code(auth(http.post(format!("{base}/api/v1/hotline/callback"))).json(&cb).send().await.unwrap()).await
                    }
                    Endpoint::DispatchDeskSeesIssue => {
                        let resp = auth(http.get(format!("{base}/api/v1/dispatch/queue"))).send().await.unwrap();
                        if resp.status().is_success() {
                            let desk: DispatchQueue = resp.json().await.unwrap();
                            if desk.community.iter().any(|i| i.id == issue) { "ok" } else { "absent" }.into()
                        } else {
                            error_code(resp).await
                        }
                    }
                    Endpoint::DisableWorker | Endpoint::EnableWorker | Endpoint::ResetPassword | Endpoint::ChangeRole => {
                        let target = if in_scope { "target-in" } else { "target-out" };
                        let (action, body) = match endpoint {
                            Endpoint::DisableWorker => ("disable", serde_json::json!({})),
                            Endpoint::EnableWorker => ("enable", serde_json::json!({})),
                            Endpoint::ResetPassword => ("password", serde_json::json!({"password": "reset by the matrix 1"})),
                            _ => ("role", serde_json::json!({"role": "grid_worker"})),
                        };
                        let url = format!("{base}/api/v1/workers/{target}/{action}");
                        error_code(auth(http.post(url)).json(&body).send().await.unwrap()).await
                    }
                    Endpoint::OwnPassword => {
                        let (old, new) = if in_scope { (PASSWORD, OTHER_PASSWORD) } else { (OTHER_PASSWORD, PASSWORD) };
                        let body = serde_json::json!({"old_password": old, "new_password": new});
                        error_code(auth(http.post(format!("{base}/api/v1/auth/password"))).json(&body).send().await.unwrap()).await
                    }
                    Endpoint::CoverageListsCourtyard => {
                        let resp = auth(http.get(format!("{base}/api/v1/foresight/coverage"))).send().await.unwrap();
                        if resp.status().is_success() {
                            let c: serde_json::Value = resp.json().await.unwrap();
                            let listed = c["courtyards"].as_array().unwrap().iter().any(|y| y["courtyard"] == serde_json::json!(yard.id));
                            if listed { "ok" } else { "absent" }.into()
                        } else {
                            error_code(resp).await
                        }
                    }
                    Endpoint::ProactiveTask => {
                        seq += 1;
                        let ms = gridwalk_e2e::server::recent_ms() + seq as i64;
                        let request_id = IssueId::from_parts(ms as u64, auth_bits(&who, seq)).0;
                        let task = serde_json::json!({"request_id": request_id, "courtyard_id": yard.id, "category": "noise", "description": "预警：夜间噪声反复"});
                        error_code(auth(http.post(format!("{base}/api/v1/foresight/tasks"))).json(&task).send().await.unwrap()).await
                    }
                    Endpoint::ListIssuesOfCourtyard => {
                        error_code(auth(http.get(format!("{base}/api/v1/issues?courtyard_id={}", yard.id))).send().await.unwrap()).await
                    }
                    Endpoint::ListVisitsOfCourtyard => {
                        error_code(auth(http.get(format!("{base}/api/v1/visits?courtyard_id={}", yard.id))).send().await.unwrap()).await
                    }
                    Endpoint::RegistryHasCourtyard => {
                        let r: RegistrySnapshot =
                            auth(http.get(format!("{base}/api/v1/registry"))).send().await.unwrap().json().await.unwrap();
                        if r.courtyards.iter().any(|c| c.id == yard.id) { "ok" } else { "absent" }.into()
                    }
                    Endpoint::HotlineIntake => {
                        let order = HotlineIntake {
                            order_no: format!("{}-{in_scope}", role.code()),
                            place: IntakePlace::Courtyard { courtyard_id: yard.id },
                            category: "lift".into(),
                            description: "电梯故障".into(),
                            received_at_ms: 1_760_000_000_000,
                            contact: None,
                        };
                        let resp = auth(http.post(format!("{base}/api/v1/hotline/intake"))).json(&order).send().await.unwrap();
                        if resp.status() == StatusCode::CREATED {
                            "ok".into()
                        } else {
                            error_code(resp).await
                        }
                    }
                };
                cells += 1;
                let want = expected(*role, endpoint, in_scope);
                if got != want {
                    failures.push(format!("{role:?} × {endpoint:?} × in_scope={in_scope}: want {want}, got {got}"));
                }
            }
        }
    }
    assert_eq!(cells, Role::ALL.len() * ENDPOINTS.len() * 2, "every cell of the matrix was checked");
    assert!(
        failures.is_empty(),
        "a worker reads and writes only inside their scope, only supervisors and admins take in hotline orders, read the messages to residents \
         and make proactive tasks, supervisors, admins and cadres read coverage, only admins manage workers, and everyone changes their own password:\n{}",
        failures.join("\n")
    );
}

fn auth_bits(who: &LoginResponse, seq: u64) -> [u8; 10] {
    let mut r = [0u8; 10];
    r[..6].copy_from_slice(&who.device_id.0.as_bytes()[10..16]);
    r[6..].copy_from_slice(&(seq as u32).to_be_bytes());
    r
}
