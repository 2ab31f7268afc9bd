//! Exports of the console's lists and the rates table (CSV with BOM, .xlsx), with Chinese
//! headers and the filters shown on screen. A ticket export streams: one read walks the index
//! and hands each row to the writer, whose bytes go out through a bounded channel as they are
//! made, so a million rows never sit in memory and a client that goes away stops the read.
//! The photos a role may see are served here too.

use super::manage::AuditFilter;
use super::overview::CoverageQuery;
use super::tickets::{Names, TicketFilter};
use crate::app::export::{self, Cell, ChannelWriter, Format, RowSink, Table};
use crate::app::workflow::{self, GroupBy, RatesQuery};
use crate::app::{query, thumbs, Action, AppState, Grant, Principal};
use crate::error::{Error, Result};
use crate::model::TicketQuery;
use crate::store::blobs;
use gridwalk_domain::calendar::beijing;
use gridwalk_domain::console::Menu;
use gridwalk_domain::rates::Period;
use gridwalk_domain::IssueId;
use serde::Deserialize;
use std::path::PathBuf;
use tokio::sync::mpsc;

/// A time as the page and the exports show it: `YYYY-MM-DD HH:MM`, Beijing time.
pub fn beijing_text(ms: i64) -> String {
    beijing(ms).strftime("%Y-%m-%d %H:%M").to_string()
}

/// Chunks in flight between the writer and the client: with ~64 KiB chunks, a few MB at most.
const CHANNEL_CHUNKS: usize = 32;
/// Thumbnails are made at this size.
pub const THUMB_PX: u32 = 320;

/// A list the console exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportList {
    Tickets,
    Rates,
    Devices,
    Coverage,
    Audit,
}

impl ExportList {
    pub fn from_name(name: &str) -> Option<ExportList> {
        Some(match name {
            "tickets" => ExportList::Tickets,
            "rates" => ExportList::Rates,
            "devices" => ExportList::Devices,
            "coverage" => ExportList::Coverage,
            "audit" => ExportList::Audit,
            _ => return None,
        })
    }

    fn title(self) -> &'static str {
        match self {
            ExportList::Tickets => "工单列表",
            ExportList::Rates => "三率统计",
            ExportList::Devices => "设备状态",
            ExportList::Coverage => "走访覆盖",
            ExportList::Audit => "审计日志",
        }
    }

    fn name(self) -> &'static str {
        match self {
            ExportList::Tickets => "tickets",
            ExportList::Rates => "rates",
            ExportList::Devices => "devices",
            ExportList::Coverage => "coverage",
            ExportList::Audit => "audit",
        }
    }
}

/// The rates table's parameters.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RatesExport {
    /// district, subdistrict (default), community, category or worker
    pub by: Option<String>,
    /// week (default) or month
    pub period: Option<String>,
    /// received at or after (ms); default 12 weeks back
    pub from_ms: Option<i64>,
    /// received before (ms); default now
    pub to_ms: Option<i64>,
}

/// What an export's query names, parsed for its list.
pub enum ExportParams {
    Tickets(TicketFilter),
    Rates(RatesExport),
    Devices,
    Coverage(CoverageQuery),
    Audit(AuditFilter),
}

/// An export under way: its file name, type, row count (when known before it starts) and
/// the bytes as they are made.
pub struct ExportStream {
    pub filename: String,
    pub format: Format,
    pub rows: Option<u64>,
    pub body: mpsc::Receiver<std::io::Result<Vec<u8>>>,
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn ticket_table(filters: Vec<(String, String)>) -> Table {
    let headers = [
        "工单编号",
        "受理时间",
        "类别",
        "来源",
        "状态",
        "街乡",
        "社区",
        "院落",
        "承办",
        "响应时限",
        "响应时间",
        "解决时间",
        "办结时间",
        "是否超时",
        "诉求描述",
        "外部单号",
        "联系人",
        "联系电话",
    ];
    Table { title: ExportList::Tickets.title().into(), headers: headers.iter().map(|h| (*h).to_owned()).collect(), filters }
}

fn ticket_cells(row: &gridwalk_proto::console::TicketRow) -> Vec<Cell> {
    let i = &row.issue;
    vec![
        text(i.id.to_string()),
        Cell::Time(i.received_at_ms),
        text(i.category.label_zh()),
        text(i.source.label_zh()),
        text(i.status.label_zh()),
        text(row.subdistrict_name.clone()),
        text(row.community_name.clone()),
        text(row.courtyard_name.clone()),
        text(row.assignee.clone().unwrap_or_default()),
        Cell::Time(i.response_due_ms),
        Cell::Time(i.responded_at_ms),
        Cell::Time(i.resolved_at_ms),
        Cell::Time(i.closed_at_ms),
        text(if row.overdue { "是" } else { "否" }),
        text(i.description.clone()),
        text(i.external_ref.clone().unwrap_or_default()),
        text(i.contact_name.clone().unwrap_or_default()),
        // Never the full number: an export leaves the system.
        text(i.contact_phone_masked.clone().unwrap_or_default()),
    ]
}

impl AppState {
    /// Start an export of `list` as `format` for `who`, under the list's own page and scope
    /// rules. The rows are read and written on a blocking thread; the returned stream yields
    /// the file's bytes.
    pub async fn console_export(&self, who: &Principal, list: ExportList, format: Format, params: ExportParams) -> Result<ExportStream> {
        let stamp = beijing(self.now_ms()).strftime("%Y%m%d-%H%M").to_string();
        let filename = format!("{}-{stamp}.{}", list.name(), format.ext());
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let tmp = self.data_dir().join("tmp");
        crate::store::files::private_dir(&tmp)?;
        let now = self.now_ms();
        let rows = match params {
            ExportParams::Tickets(filter) => {
                let Grant { registry, scope } = self.console_grant(who, Menu::Tickets, Action::ReadRecords).await?;
                let store = self.storage().clone();
                let (f2, s2) = (filter.clone(), scope.clone());
                let (q, total) = store
                    .read(move |r| {
                        let q = TicketQuery { before: None, limit: u32::MAX, ..f2.query(r, now)? };
                        let total = r.ticket_count(&s2, &q)?;
                        Ok((q, total))
                    })
                    .await?;
                let table = ticket_table(filter.shown(&registry));
                spawn_writer(
                    tx,
                    move |mut sink| {
                        store.read_blocking(|r| {
                            let names = Names::load(r, &registry)?;
                            r.each_ticket(&scope, &q, &mut |v| {
                                if let Some(row) = names.row(&v, now) {
                                    sink.row(&ticket_cells(&row))?;
                                }
                                Ok(true)
                            })
                        })?;
                        sink.finish()
                    },
                    format,
                    table,
                    tmp,
                );
                Some(total)
            }
            ExportParams::Rates(p) => {
                let Grant { registry, scope } = self.console_grant(who, Menu::Overview, Action::ReadRecords).await?;
                let by = GroupBy::from_code(p.by.as_deref().unwrap_or("subdistrict"))
                    .ok_or_else(|| Error::InvalidQuery("by: use district, subdistrict, community, category or worker".into()))?;
                let period = Period::from_code(p.period.as_deref().unwrap_or("week"))
                    .ok_or_else(|| Error::InvalidQuery("period: week or month".into()))?;
                let to = super::tickets::bounded_time("to_ms", p.to_ms)?.unwrap_or(now.saturating_add(1));
                let from = super::tickets::bounded_time("from_ms", p.from_ms)?.unwrap_or(Period::Week.start(now) - 11 * 7 * 86_400_000);
                if from >= to {
                    return Err(Error::InvalidQuery(format!("from_ms ({from}) must be before to_ms ({to})")));
                }
                let q = RatesQuery { by, period, from_ms: from, to_ms: to, as_of_ms: now };
                let report = self.storage().read(move |r| workflow::rates(r, &registry, &scope, q)).await?;
                let filters = vec![
                    ("分组".to_owned(), by.code().to_owned()),
                    ("周期".to_owned(), if period == Period::Week { "周" } else { "月" }.to_owned()),
                    ("受理起".to_owned(), beijing_text(from)),
                    ("受理止".to_owned(), beijing_text(to)),
                ];
                let headers = ["单位", "周期开始", "受理数", "响应率", "解决率", "满意率"].map(str::to_owned).to_vec();
                let rows: Vec<Vec<Cell>> = report
                    .rows
                    .iter()
                    .map(|r| {
                        vec![
                            text(report.labels.get(&r.group).filter(|l| !l.is_empty()).cloned().unwrap_or_else(|| r.group.clone())),
                            Cell::Time(Some(r.period_start_ms)),
                            Cell::Int(r.received.min(i64::MAX as u64) as i64),
                            Cell::Ratio { num: r.response.numerator, den: r.response.denominator },
                            Cell::Ratio { num: r.resolution.numerator, den: r.resolution.denominator },
                            Cell::Ratio { num: r.satisfaction.numerator, den: r.satisfaction.denominator },
                        ]
                    })
                    .collect();
                spawn_rows(tx, format, Table { title: list.title().into(), headers, filters }, tmp, rows)
            }
            ExportParams::Devices => {
                let devices = self.console_devices(who).await?.devices;
                let headers = [
                    "设备",
                    "类型",
                    "账号",
                    "姓名",
                    "登记时间",
                    "吊销时间",
                    "最近同步",
                    "待传条数",
                    "最早未传",
                    "被拒条数",
                    "时钟偏差(秒)",
                    "版本",
                ]
                .map(str::to_owned)
                .to_vec();
                let rows = devices
                    .into_iter()
                    .map(|d| {
                        vec![
                            text(d.name),
                            text(if d.kind == "console" { "控制台" } else { "平板" }),
                            text(d.username),
                            text(d.worker_name),
                            Cell::Time(Some(d.created_ms)),
                            Cell::Time(d.revoked_ms),
                            Cell::Time(d.last_sync_ms),
                            d.queue_depth.map_or(Cell::Empty, |n| Cell::Int(n.min(i64::MAX as u64) as i64)),
                            Cell::Time(d.oldest_unsent_ms),
                            d.rejected_count.map_or(Cell::Empty, |n| Cell::Int(n.min(i64::MAX as u64) as i64)),
                            d.clock_offset_ms.map_or(Cell::Empty, |n| Cell::Int(n / 1000)),
                            text(d.app_version.unwrap_or_default()),
                        ]
                    })
                    .collect();
                spawn_rows(tx, format, Table { title: list.title().into(), headers, filters: Vec::new() }, tmp, rows)
            }
            ExportParams::Coverage(q) => {
                // The page's own figures, so the file and the screen never differ.
                let c = self.console_coverage(who, q).await?;
                let mut headers = vec!["网格员".to_owned(), "账号".to_owned(), "责任院落".to_owned()];
                for w in &c.weeks {
                    headers.extend(["已走访院落", "覆盖率", "走访次数", "位置存疑"].map(|h| format!("{} {h}", w.label)));
                }
                let rows = c
                    .workers
                    .iter()
                    .map(|w| {
                        let mut cells = vec![text(w.name.clone()), text(w.username.clone()), Cell::Int(w.courtyards as i64)];
                        for k in &w.weeks {
                            cells.extend([
                                Cell::Int(k.visited as i64),
                                Cell::Ratio { num: k.visited, den: w.courtyards },
                                Cell::Int(k.visits as i64),
                                Cell::Int(k.flagged as i64),
                            ]);
                        }
                        cells
                    })
                    .collect();
                let filters = vec![("周数".to_owned(), c.weeks.len().to_string()), ("未走访天数".to_owned(), c.stale_days.to_string())];
                spawn_rows(tx, format, Table { title: list.title().into(), headers, filters }, tmp, rows)
            }
            ExportParams::Audit(filter) => {
                self.console_grant(who, Menu::Admin, Action::ManageWorkers).await?;
                let q = filter.query()?;
                let filters: Vec<(String, String)> = [("操作人", q.actor.clone()), ("操作", q.action.clone())]
                    .into_iter()
                    .filter_map(|(l, v)| v.map(|v| (l.to_owned(), v)))
                    .chain(q.from_ms.map(|t| ("起".to_owned(), beijing_text(t))))
                    .chain(q.to_ms.map(|t| ("止".to_owned(), beijing_text(t))))
                    .collect();
                // Every matching line, not one page: the reader pages, the export does not.
                let q = crate::model::AuditQuery { limit: u32::MAX, before: None, ..q };
                let entries = self.storage().read(move |r| r.audit_page(&q)).await?;
                let headers = ["编号", "时间", "操作人", "操作", "详情"].map(str::to_owned).to_vec();
                let rows = entries
                    .into_iter()
                    .map(|e| vec![Cell::Int(e.id), Cell::Time(Some(e.at_ms)), text(e.actor), text(e.action), text(e.detail)])
                    .collect();
                spawn_rows(tx, format, Table { title: list.title().into(), headers, filters }, tmp, rows)
            }
        };
        let (actor, detail) =
            (who.worker.username.clone(), format!("{filename}{}", rows.map(|n| format!(", {n} rows")).unwrap_or_default()));
        self.storage().write(move |tx| tx.audit(now, &actor, "export", &detail)).await?;
        Ok(ExportStream { filename, format, rows, body: rx })
    }

    /// A photo's bytes and type (or its thumbnail, made once and cached) for whoever may see
    /// the issue that names it; anyone else is refused, and learns nothing of other photos.
    pub async fn console_photo(&self, who: &Principal, sha256: String, issue: IssueId, thumb: bool) -> Result<(Vec<u8>, &'static str)> {
        let Grant { scope, .. } = self.console_grant(who, Menu::Tickets, Action::ReadRecords).await?;
        blobs::check_name(&sha256)?;
        let state = self.storage().read(move |r| query::get_issue(r, &scope, issue)).await?;
        if !state.photos.contains(&sha256) {
            return Err(Error::NotFound(format!("issue {issue} has no photo {sha256}")));
        }
        let (dir, cache) = (self.blob_dir(), self.data_dir().join("thumbs"));
        tokio::task::spawn_blocking(move || {
            let path: PathBuf = dir.join(&sha256);
            if !path.is_file() {
                return Err(Error::NotFound(format!("photo {sha256} is not uploaded yet")));
            }
            if thumb {
                let made = thumbs::thumbnail(&path, &cache, &sha256, THUMB_PX)?;
                return Ok((std::fs::read(made)?, "image/jpeg"));
            }
            let bytes = blobs::read(&dir, &sha256)?;
            let kind = thumbs::content_type(&bytes[..bytes.len().min(64)]).ok_or(Error::NotAnImage)?;
            Ok((bytes, kind))
        })
        .await
        .map_err(|e| Error::Internal(format!("reading a photo: {e}")))?
    }
}

/// Run `work` with a sink writing to the channel, on a blocking thread; a failure half-way is
/// sent down the channel, so the download fails instead of ending short.
fn spawn_writer<F>(tx: mpsc::Sender<std::io::Result<Vec<u8>>>, work: F, format: Format, table: Table, tmp: PathBuf)
where
    F: FnOnce(Box<dyn RowSink>) -> Result<()> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let out = Box::new(ChannelWriter::new(tx.clone()));
        let outcome = export::sink(format, &table, out, &tmp).and_then(work);
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "an export failed half-way");
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
}

/// [`spawn_writer`] for a list already read (small lists: devices, rates, coverage, audit).
fn spawn_rows(tx: mpsc::Sender<std::io::Result<Vec<u8>>>, format: Format, table: Table, tmp: PathBuf, rows: Vec<Vec<Cell>>) -> Option<u64> {
    let n = rows.len() as u64;
    spawn_writer(
        tx,
        move |mut sink| {
            for r in &rows {
                sink.row(r)?;
            }
            sink.finish()
        },
        format,
        table,
        tmp,
    );
    Some(n)
}
