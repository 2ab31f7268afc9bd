//! Console lists exported as CSV or .xlsx, row by row, in bounded memory.
//!
//! The caller (the console's HTTP handler, on a blocking thread) opens a sink with [`sink`],
//! pushes rows of [`Cell`]s and calls [`RowSink::finish`]. Both formats have one layout, so a
//! printed export says what it shows:
//!
//! ```text
//! <title>
//! <filter label>,<filter value>      (one line per on-screen filter, or `筛选条件,无`)
//! <blank>
//! <header>,<header>,…
//! <data rows>
//! ```
//!
//! * CSV is written straight to the output as rows come (the csv writer's few KiB, then
//!   [`ChannelWriter`]'s 64 KiB): nothing accumulates. It starts with a UTF-8 byte order mark,
//!   without which Excel reads Chinese as mojibake.
//! * .xlsx uses `rust_xlsxwriter`'s constant-memory mode: each row goes to a temp file in the
//!   given directory as soon as the next one starts, and [`RowSink::finish`] zips the workbook
//!   into the output. Since rust_xlsxwriter 0.96 that zip is written as a stream (no `Seek`),
//!   so the output may be the same [`ChannelWriter`] as for CSV; only the spooled sheet data
//!   touches the disk, in unnamed temp files that vanish with the sink, even on a crash. The
//!   client gets nothing before `finish`, which is when the workbook exists.
//!
//! A sheet holds at most 1,048,576 rows (Excel's limit). Past it the export goes on in a
//! continuation sheet named `续1`, `续2`, …, which starts with the header row again (frozen like
//! the first sheet's). Nothing is cut and no error is raised: the console bounds what it lists.
//!
//! If the producer fails half-way, the output holds a truncated file; the caller should end the
//! HTTP body with an error (send `Err` through a clone of the channel's sender) so the client's
//! download fails instead of saving a short file that looks whole.

use crate::error::{Error, Result};
use gridwalk_domain::calendar;
use rust_xlsxwriter::{Format as XlsxFormat, Workbook, XlsxError};
use std::io::{self, Write};
use std::path::Path;
use tokio::sync::mpsc::Sender;

/// An export's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    /// The format named by a file extension (`csv`, `xlsx`, any ASCII case); `None` for others.
    pub fn from_ext(ext: &str) -> Option<Format> {
        if ext.eq_ignore_ascii_case("csv") {
            Some(Format::Csv)
        } else if ext.eq_ignore_ascii_case("xlsx") {
            Some(Format::Xlsx)
        } else {
            None
        }
    }

    /// The `Content-Type` to answer with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    /// The file extension, without the dot.
    pub fn ext(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }
}

/// One cell of an exported row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Int(i64),
    /// A rate: shown as a percent with one decimal (`33.3%`), or `—` when `den` is 0. In .xlsx
    /// it is the number `num/den` formatted `0.0%`, so Excel can sort and sum it.
    Ratio {
        num: u64,
        den: u64,
    },
    /// An instant (ms since the epoch) shown as `YYYY-MM-DD HH:MM` in Beijing time (UTC+8);
    /// empty when `None`. In .xlsx it is an Excel date-time formatted `yyyy-mm-dd hh:mm`.
    Time(Option<i64>),
    Empty,
}

/// What an export shows above its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The sheet title (Chinese), e.g. `工单列表`. In .xlsx it also names the first sheet
    /// (cut to Excel's 31 characters, without the characters sheet names may not hold).
    pub title: String,
    /// The column headers (Chinese). Every row has exactly this many cells.
    pub headers: Vec<String>,
    /// The filters the console showed when the export was asked for: (label, value).
    pub filters: Vec<(String, String)>,
}

/// Where an export's rows go. `Send`, so a sink made on one thread may finish on another.
pub trait RowSink: Send {
    /// Add one data row; it must have one cell per header (`internal` otherwise: a bug).
    fn row(&mut self, cells: &[Cell]) -> Result<()>;
    /// Write what is still held and flush the output. Without it the output is incomplete
    /// (a CSV loses its tail, an .xlsx is never written).
    fn finish(self: Box<Self>) -> Result<()>;
}

/// Open a sink writing `table` in `format` to `out`. `tmp_dir` is where .xlsx spools its sheet
/// data (unnamed temp files; a directory inside the data directory, so photos and exports
/// share the data's privacy); CSV does not use it.
pub fn sink(format: Format, table: &Table, out: Box<dyn Write + Send>, tmp_dir: &Path) -> Result<Box<dyn RowSink>> {
    match format {
        Format::Csv => Ok(Box::new(CsvSink::new(table, out)?)),
        Format::Xlsx => Ok(Box::new(XlsxSink::new(table, out, tmp_dir, XLSX_MAX_ROWS)?)),
    }
}

/// Shown for a ratio of nothing (0 of 0), and in the filter line when there are no filters.
const NO_VALUE: &str = "—";
const NO_FILTERS: (&str, &str) = ("筛选条件", "无");

fn check_width(cells: &[Cell], columns: usize) -> Result<()> {
    if cells.len() == columns {
        Ok(())
    } else {
        Err(Error::Internal(format!("an export row has {} cells but the table {columns} columns", cells.len())))
    }
}

fn filter_lines(table: &Table) -> Vec<(&str, &str)> {
    if table.filters.is_empty() {
        vec![NO_FILTERS]
    } else {
        table.filters.iter().map(|(l, v)| (l.as_str(), v.as_str())).collect()
    }
}

/// `num/den` as a percent with one decimal, rounded half up, in integers (no float drift:
/// 1/8 is `12.5%`, 2/3 is `66.7%`).
fn percent(num: u64, den: u64) -> String {
    if den == 0 {
        return NO_VALUE.to_owned();
    }
    let tenths = (u128::from(num) * 2000 + u128::from(den)) / (2 * u128::from(den));
    format!("{}.{}%", tenths / 10, tenths % 10)
}

/// `ms` as Beijing's `YYYY-MM-DD HH:MM` (seconds dropped, not rounded: 08:59:59 is 08:59, as a
/// wall clock reads).
fn beijing_minute(ms: i64) -> String {
    let dt = calendar::beijing(ms);
    format!("{:04}-{:02}-{:02} {:02}:{:02}", dt.year(), dt.month(), dt.day(), dt.hour(), dt.minute())
}

// ---------------------------------------------------------------------------------------------
// CSV

const BOM: &[u8] = b"\xEF\xBB\xBF";

struct CsvSink {
    csv: csv::Writer<Box<dyn Write + Send>>,
    columns: usize,
}

impl CsvSink {
    fn new(table: &Table, mut out: Box<dyn Write + Send>) -> Result<CsvSink> {
        // The preamble has lines of 1 and 2 fields and a truly empty line (the csv writer would
        // write an empty record as `""`), so it is written apart from the data's writer, which
        // stays strict: every data row as wide as the header.
        let mut pre = csv::WriterBuilder::new().flexible(true).terminator(csv::Terminator::CRLF).from_writer(Vec::new());
        pre.write_record([guard(&table.title).as_bytes()]).map_err(csv_err)?;
        for (label, value) in filter_lines(table) {
            pre.write_record([guard(label).as_bytes(), guard(value).as_bytes()]).map_err(csv_err)?;
        }
        let mut head = BOM.to_vec();
        head.extend(pre.into_inner().map_err(|e| Error::Internal(e.to_string()))?);
        head.extend(b"\r\n");
        out.write_all(&head)?;
        // CRLF: RFC 4180, and what Excel on Windows writes itself.
        let mut csv = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
        csv.write_record(table.headers.iter().map(|h| guard(h).into_owned())).map_err(csv_err)?;
        Ok(CsvSink { csv, columns: table.headers.len() })
    }
}

/// Text that Excel would run as a formula (`=`, `+`, `-`, `@`, or a leading tab or carriage
/// return) gets a leading `'`: residents' words flow into these files, and a cell like
/// `=HYPERLINK(…)` must stay words on the cadre's machine (OWASP "CSV injection"). Numbers are
/// written from [`Cell::Int`], never from text, so a minus sign there is untouched.
fn guard(text: &str) -> std::borrow::Cow<'_, str> {
    match text.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

fn csv_err(e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::Io(io),
        other => Error::Internal(format!("csv: {other:?}")),
    }
}

impl RowSink for CsvSink {
    fn row(&mut self, cells: &[Cell]) -> Result<()> {
        check_width(cells, self.columns)?;
        let fields = cells.iter().map(|c| match c {
            Cell::Text(t) => guard(t).into_owned(),
            Cell::Int(i) => i.to_string(),
            Cell::Ratio { num, den } => percent(*num, *den),
            Cell::Time(Some(ms)) => beijing_minute(*ms),
            Cell::Time(None) | Cell::Empty => String::new(),
        });
        self.csv.write_record(fields).map_err(csv_err)
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        self.csv.flush()?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// XLSX

/// Rows in one worksheet (Excel's limit).
const XLSX_MAX_ROWS: u32 = 1_048_576;
/// Characters in one cell (Excel's limit); longer text is cut (rust_xlsxwriter refuses it, and
/// one long complaint should not fail a whole export).
const XLSX_MAX_TEXT: usize = 32_767;
/// An f64 holds every integer up to 2^53 exactly; a larger one is written as text.
const EXACT_F64_INT: u64 = 1 << 53;
/// Excel's serial day of 1970-01-01 (its day 0 is 1899-12-30).
const EXCEL_EPOCH_DAY: i64 = 25_569;
/// Serial day 61 is 1900-03-01; before it Excel's calendar has its fake 1900-02-29, so earlier
/// times (never in real data) are written as text instead.
const EXCEL_FIRST_SAFE_DAY: i64 = 61;

struct XlsxSink {
    workbook: Workbook,
    out: Box<dyn Write + Send>,
    headers: Vec<String>,
    /// Rows a sheet may hold (Excel's limit; smaller in tests).
    max_rows: u32,
    /// The sheet being written, and the next row in it.
    sheet: usize,
    next_row: u32,
    bold: XlsxFormat,
    percent: XlsxFormat,
    time: XlsxFormat,
}

impl XlsxSink {
    fn new(table: &Table, out: Box<dyn Write + Send>, tmp_dir: &Path, max_rows: u32) -> Result<XlsxSink> {
        let preamble = 3 + filter_lines(table).len() as u32;
        if table.headers.is_empty() || table.headers.len() > 16_384 {
            return Err(Error::Internal(format!("an xlsx export needs 1..=16384 columns, not {}", table.headers.len())));
        }
        if max_rows <= preamble {
            return Err(Error::Internal(format!("{} filter rows leave no room for data in a sheet", table.filters.len())));
        }
        let mut workbook = Workbook::new();
        workbook.set_tempdir(tmp_dir).map_err(xlsx_err)?;
        let mut sink = XlsxSink {
            workbook,
            out,
            headers: table.headers.clone(),
            max_rows,
            sheet: 0,
            next_row: 0,
            bold: XlsxFormat::new().set_bold(),
            percent: XlsxFormat::new().set_num_format("0.0%"),
            time: XlsxFormat::new().set_num_format("yyyy-mm-dd hh:mm"),
        };
        let ws = sink.workbook.add_worksheet_with_constant_memory().map_err(xlsx_err)?;
        ws.set_name(sheet_name(&table.title)).map_err(xlsx_err)?;
        ws.write_string_with_format(0, 0, cut(&table.title), &sink.bold).map_err(xlsx_err)?;
        for (i, (label, value)) in filter_lines(table).into_iter().enumerate() {
            let row = 1 + i as u32;
            ws.write_string(row, 0, cut(label)).map_err(xlsx_err)?;
            ws.write_string(row, 1, cut(value)).map_err(xlsx_err)?;
        }
        // One blank row (nothing written there), then the header.
        sink.next_row = preamble - 1;
        sink.header_row()?;
        Ok(sink)
    }

    /// Write the header at the sheet's next row, bold, with the panes frozen below it so it
    /// stays in sight while scrolling.
    fn header_row(&mut self) -> Result<()> {
        let row = self.next_row;
        let ws = self.workbook.worksheet_from_index(self.sheet).map_err(xlsx_err)?;
        for (col, h) in self.headers.iter().enumerate() {
            let col = col as u16;
            ws.write_string_with_format(row, col, cut(h), &self.bold).map_err(xlsx_err)?;
            // Wide enough for the header (a CJK character takes two columns) and a date-time.
            ws.set_column_width(col, (display_width(h) + 2).clamp(12, 50) as f64).map_err(xlsx_err)?;
        }
        ws.set_freeze_panes(row + 1, 0).map_err(xlsx_err)?;
        self.next_row = row + 1;
        Ok(())
    }

    /// Start the next continuation sheet (`续1`, `续2`, …) with the header at its top.
    fn continue_sheet(&mut self) -> Result<()> {
        let ws = self.workbook.add_worksheet_with_constant_memory().map_err(xlsx_err)?;
        ws.set_name(format!("续{}", self.sheet + 1)).map_err(xlsx_err)?;
        self.sheet += 1;
        self.next_row = 0;
        self.header_row()
    }
}

impl RowSink for XlsxSink {
    fn row(&mut self, cells: &[Cell]) -> Result<()> {
        check_width(cells, self.headers.len())?;
        if self.next_row >= self.max_rows {
            self.continue_sheet()?;
        }
        let row = self.next_row;
        let ws = self.workbook.worksheet_from_index(self.sheet).map_err(xlsx_err)?;
        for (col, cell) in cells.iter().enumerate() {
            let col = col as u16;
            match cell {
                Cell::Text(t) => {
                    ws.write_string(row, col, cut(t)).map_err(xlsx_err)?;
                }
                Cell::Int(i) if i.unsigned_abs() <= EXACT_F64_INT => {
                    ws.write_number(row, col, *i as f64).map_err(xlsx_err)?;
                }
                Cell::Int(i) => {
                    ws.write_string(row, col, i.to_string()).map_err(xlsx_err)?;
                }
                Cell::Ratio { den: 0, .. } => {
                    ws.write_string(row, col, NO_VALUE).map_err(xlsx_err)?;
                }
                Cell::Ratio { num, den } => {
                    ws.write_number_with_format(row, col, *num as f64 / *den as f64, &self.percent).map_err(xlsx_err)?;
                }
                Cell::Time(Some(ms)) => match excel_serial(*ms) {
                    Some(serial) => {
                        ws.write_number_with_format(row, col, serial, &self.time).map_err(xlsx_err)?;
                    }
                    None => {
                        ws.write_string(row, col, beijing_minute(*ms)).map_err(xlsx_err)?;
                    }
                },
                // Nothing is written for an empty cell: the row simply has no cell there.
                Cell::Time(None) | Cell::Empty => {}
            }
        }
        self.next_row += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<()> {
        let XlsxSink { workbook, out, .. } = &mut *self;
        workbook.save_to_writer(&mut *out).map_err(xlsx_err)?;
        out.flush()?;
        Ok(())
    }
}

/// Beijing's wall-clock minute of `ms` as an Excel serial date-time (days since 1899-12-30,
/// the fraction the time of day), cut to the minute like the CSV text; `None` before
/// 1900-03-01 or past 9999, where Excel has no such date.
fn excel_serial(ms: i64) -> Option<f64> {
    let local_minute = ms.checked_add(8 * 3_600_000)?.div_euclid(60_000);
    let day = local_minute.div_euclid(1440) + EXCEL_EPOCH_DAY;
    let minute = local_minute.rem_euclid(1440);
    // 2,958,465 is 9999-12-31.
    (EXCEL_FIRST_SAFE_DAY..=2_958_465).contains(&day).then(|| day as f64 + minute as f64 / 1440.0)
}

/// Text cut to what an Excel cell holds.
fn cut(text: &str) -> &str {
    match text.char_indices().nth(XLSX_MAX_TEXT) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// A worksheet name Excel accepts: at most 31 characters, none of `[]:*?/\`, not starting or
/// ending with `'`, not empty.
fn sheet_name(title: &str) -> String {
    let clean: String =
        title.chars().map(|c| if matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\') { '_' } else { c }).take(31).collect();
    let clean = clean.trim_matches('\'').trim();
    if clean.is_empty() {
        "导出".to_owned()
    } else {
        clean.to_owned()
    }
}

/// Columns a header takes on screen: two for a wide (CJK) character, one for others.
fn display_width(text: &str) -> usize {
    text.chars().map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 }).sum()
}

fn xlsx_err(e: XlsxError) -> Error {
    match e {
        XlsxError::IoError(io) => Error::Io(io),
        other => Error::Internal(format!("xlsx: {other}")),
    }
}

// ---------------------------------------------------------------------------------------------
// The channel to the HTTP body

/// How much [`ChannelWriter`] gathers before it sends: big enough that a chunk is not a
/// syscall per row, small enough that a slow client holds little.
const CHUNK: usize = 64 * 1024;

/// A [`Write`] for a blocking thread that hands its bytes, in chunks of about 64 KiB, to an
/// async receiver (the HTTP layer turns the receiver into a streamed body). The channel's
/// bound is the backpressure: a slow client blocks the writer instead of growing a buffer.
///
/// When the receiver is gone (the client went away) every write fails with `BrokenPipe`, so
/// the producer stops instead of exporting to nobody. `flush` sends what is buffered; the
/// sinks' `finish` calls it. Dropping the writer without a flush loses the buffered tail: no
/// send is attempted in `drop`, which may run on an async thread where `blocking_send` panics.
#[derive(Debug)]
pub struct ChannelWriter {
    tx: Sender<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    /// A writer sending over `tx`. Call it only off the async runtime (e.g. in
    /// `tokio::task::spawn_blocking`): `blocking_send` panics on a runtime thread.
    pub fn new(tx: Sender<io::Result<Vec<u8>>>) -> ChannelWriter {
        ChannelWriter { tx, buf: Vec::with_capacity(CHUNK) }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| gone())
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the export's receiver is gone (the client went away)")
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // Checked on every write, not only on a send, so a producer stops within a row of the
        // client leaving rather than after another 64 KiB.
        if self.tx.is_closed() {
            return Err(gone());
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx};
    use std::sync::{Arc, Mutex};

    /// A `Write` the test can read back after the sink consumed its box.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn bytes(&self) -> Vec<u8> {
            self.0.lock().unwrap().clone()
        }
    }

    // 2025-10-10 09:05:59.999 in Beijing.
    const T: i64 = 1_760_058_359_999;

    fn table(filters: &[(&str, &str)]) -> Table {
        Table {
            title: "工单列表".into(),
            headers: ["编号", "描述", "数量", "办结率", "上报时间", "备注"].map(String::from).to_vec(),
            filters: filters.iter().map(|(l, v)| (l.to_string(), v.to_string())).collect(),
        }
    }

    fn rows() -> Vec<Vec<Cell>> {
        vec![
            vec![
                Cell::Text("GW-1".into()),
                Cell::Text("楼道堆物，\"消防\"通道, 堵塞\n第二行".into()),
                Cell::Int(-42),
                Cell::Ratio { num: 2, den: 3 },
                Cell::Time(Some(T)),
                Cell::Empty,
            ],
            vec![
                Cell::Text("=HYPERLINK(\"http://x\")".into()),
                Cell::Text(String::new()),
                Cell::Int(0),
                Cell::Ratio { num: 0, den: 0 },
                Cell::Time(None),
                Cell::Text("ok".into()),
            ],
            vec![
                Cell::Text("GW-3".into()),
                Cell::Empty,
                Cell::Int(i64::MAX),
                Cell::Ratio { num: 1, den: 8 },
                Cell::Time(Some(0)),
                Cell::Empty,
            ],
        ]
    }

    fn export(format: Format, table: &Table, rows: &[Vec<Cell>]) -> Vec<u8> {
        let out = Shared::default();
        let tmp = tempfile::tempdir().unwrap();
        let mut s = sink(format, table, Box::new(out.clone()), tmp.path()).unwrap();
        for r in rows {
            s.row(r).unwrap();
        }
        s.finish().unwrap();
        out.bytes()
    }

    #[test]
    fn formats_by_extension() {
        assert_eq!(Format::from_ext("csv"), Some(Format::Csv));
        assert_eq!(Format::from_ext("XLSX"), Some(Format::Xlsx), "the extension is matched in any ASCII case");
        assert_eq!(Format::from_ext("xls"), None, "only csv and xlsx are exports");
        for f in [Format::Csv, Format::Xlsx] {
            assert_eq!(Format::from_ext(f.ext()), Some(f), "ext() names its own format");
        }
        assert!(Format::Csv.content_type().contains("charset=utf-8"), "CSV says it is UTF-8");
    }

    #[test]
    fn percents_and_beijing_minutes() {
        assert_eq!(percent(2, 3), "66.7%", "one decimal, rounded half up");
        assert_eq!(percent(1, 8), "12.5%");
        assert_eq!(percent(1, 2000), "0.1%", "0.05% rounds up to 0.1%");
        assert_eq!(percent(3, 3), "100.0%");
        assert_eq!(percent(0, 0), "—", "a rate of nothing is a dash, not 0% or NaN");
        assert_eq!(percent(u64::MAX, 1), format!("{}.0%", u128::from(u64::MAX) * 100), "no overflow");
        assert_eq!(beijing_minute(T), "2025-10-10 09:05", "Beijing time, seconds dropped");
        assert_eq!(beijing_minute(0), "1970-01-01 08:00", "the epoch is 08:00 in Beijing");
        assert_eq!(beijing_minute(16 * 3_600_000), "1970-01-02 00:00", "midnight Beijing is the next day");
    }

    #[test]
    fn csv_has_bom_title_filters_blank_line_header_and_rows() {
        let t = table(&[("街道", "东华门"), ("状态", "待办")]);
        let bytes = export(Format::Csv, &t, &rows());
        assert!(bytes.starts_with(BOM), "the CSV starts with a UTF-8 BOM so Excel reads Chinese");
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        assert!(
            text.starts_with("工单列表\r\n街道,东华门\r\n状态,待办\r\n\r\n编号,"),
            "title, filters, a blank line, then the header: {text}"
        );

        let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&bytes[..]);
        let recs: Vec<Vec<String>> = r.records().map(|r| r.unwrap().iter().map(String::from).collect()).collect();
        assert_eq!(recs[0], ["工单列表"], "line 1 is the title (the BOM is not part of it)");
        assert_eq!(recs[1], ["街道", "东华门"], "one line per filter: label, value");
        assert_eq!(recs[2], ["状态", "待办"]);
        assert_eq!(recs[3], t.headers, "the Chinese headers follow the blank line");
        assert_eq!(
            recs[4],
            ["GW-1", "楼道堆物，\"消防\"通道, 堵塞\n第二行", "-42", "66.7%", "2025-10-10 09:05", ""],
            "quotes, commas and newlines survive"
        );
        assert_eq!(
            recs[5],
            ["'=HYPERLINK(\"http://x\")", "", "0", "—", "", "ok"],
            "a formula-like text is defused with '; 0/0 is a dash; no time is empty"
        );
        assert_eq!(recs[6], ["GW-3", "", i64::MAX.to_string().as_str(), "12.5%", "1970-01-01 08:00", ""]);
        assert_eq!(recs.len(), 7, "nothing else is written");
    }

    #[test]
    fn csv_without_filters_says_so() {
        let bytes = export(Format::Csv, &table(&[]), &[]);
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        assert!(text.starts_with("工单列表\r\n筛选条件,无\r\n\r\n编号,描述"), "no filters is one `筛选条件,无` line: {text}");
    }

    #[test]
    fn a_row_of_the_wrong_width_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        for f in [Format::Csv, Format::Xlsx] {
            let mut s = sink(f, &table(&[]), Box::new(Shared::default()), tmp.path()).unwrap();
            let e = s.row(&[Cell::Empty]).unwrap_err();
            assert_eq!(e.code(), "internal", "{f:?}: a row must have one cell per header");
        }
    }

    fn read_xlsx(bytes: Vec<u8>) -> Xlsx<io::Cursor<Vec<u8>>> {
        Xlsx::new(io::Cursor::new(bytes)).expect("the export is an xlsx calamine reads")
    }

    #[test]
    fn xlsx_round_trips_through_calamine() {
        let t = table(&[("街道", "东华门")]);
        let mut book = read_xlsx(export(Format::Xlsx, &t, &rows()));
        assert_eq!(book.sheet_names(), ["工单列表"], "the first sheet is named by the title");
        let range = book.worksheet_range("工单列表").unwrap();
        let cell = |r: u32, c: u32| range.get_value((r, c)).cloned().unwrap_or(Data::Empty);
        assert_eq!(cell(0, 0), Data::String("工单列表".into()), "row 1 is the title");
        assert_eq!((cell(1, 0), cell(1, 1)), (Data::String("街道".into()), Data::String("东华门".into())), "then the filters");
        assert_eq!(cell(2, 0), Data::Empty, "then a blank row");
        for (c, h) in t.headers.iter().enumerate() {
            assert_eq!(cell(3, c as u32), Data::String(h.clone()), "then the Chinese header");
        }
        assert_eq!(cell(4, 1), Data::String("楼道堆物，\"消防\"通道, 堵塞\n第二行".into()), "text is kept as it is");
        assert_eq!(cell(4, 2), Data::Float(-42.0), "an Int is a number");
        match cell(4, 3) {
            Data::Float(f) => assert!((f - 2.0 / 3.0).abs() < 1e-12, "a ratio is the number num/den, got {f}"),
            other => panic!("a ratio is a number, got {other:?}"),
        }
        match cell(4, 4) {
            // 2025-10-10 09:05 Beijing: serial day 45940, 9h05m into it.
            Data::DateTime(dt) => {
                assert!((dt.as_f64() - (45_940.0 + (9.0 * 60.0 + 5.0) / 1440.0)).abs() < 1e-9, "Beijing's minute as an Excel date-time")
            }
            other => panic!("a time is an Excel date-time, got {other:?}"),
        }
        assert_eq!(cell(4, 5), Data::Empty, "an empty cell stays empty");
        assert_eq!(cell(5, 0), Data::String("=HYPERLINK(\"http://x\")".into()), "xlsx text is never a formula, so it is not defused");
        assert_eq!(cell(5, 3), Data::String("—".into()), "0/0 is a dash");
        assert_eq!(cell(5, 4), Data::Empty, "no time is empty");
        assert_eq!(cell(6, 2), Data::String(i64::MAX.to_string()), "an integer past 2^53 is text, not a rounded float");
        assert_eq!(range.height(), 7, "title, filter, blank, header and three rows");
    }

    #[test]
    fn xlsx_without_filters_says_so() {
        let mut book = read_xlsx(export(Format::Xlsx, &table(&[]), &[]));
        let range = book.worksheet_range_at(0).unwrap().unwrap();
        assert_eq!(range.get_value((1, 0)), Some(&Data::String("筛选条件".into())), "no filters is one 筛选条件 row");
        assert_eq!(range.get_value((1, 1)), Some(&Data::String("无".into())));
        assert_eq!(range.get_value((3, 0)), Some(&Data::String("编号".into())), "the header follows the blank row");
    }

    #[test]
    fn xlsx_past_the_row_limit_goes_on_in_continuation_sheets_with_the_header() {
        let t = Table { title: "走访/记录: 2025?".into(), headers: vec!["序号".into()], filters: vec![] };
        let out = Shared::default();
        let tmp = tempfile::tempdir().unwrap();
        // 10 rows a sheet: the first has title, filter, blank, header and 6 data rows.
        let mut s = Box::new(XlsxSink::new(&t, Box::new(out.clone()), tmp.path(), 10).unwrap());
        for i in 0..20 {
            s.row(&[Cell::Int(i)]).unwrap();
        }
        s.finish().unwrap();
        let mut book = read_xlsx(out.bytes());
        assert_eq!(book.sheet_names(), ["走访_记录_ 2025_", "续1", "续2"], "sheets past the limit are 续1, 续2 (names cleaned for Excel)");
        let ints = |r: &calamine::Range<Data>| r.rows().skip_while(|row| row[0] != Data::String("序号".into())).skip(1).count();
        let sheets: Vec<_> = (0..3).map(|i| book.worksheet_range_at(i).unwrap().unwrap()).collect();
        assert_eq!(sheets.iter().map(ints).collect::<Vec<_>>(), [6, 9, 5], "each sheet fills to the limit; all 20 rows are kept");
        for s in &sheets[1..] {
            assert_eq!(s.get_value((0, 0)), Some(&Data::String("序号".into())), "a continuation sheet starts with the header");
            assert!(s.height() <= 10, "no sheet passes the limit");
        }
        assert_eq!(sheets[1].get_value((1, 0)), Some(&Data::Float(6.0)), "rows go on where the last sheet stopped");
    }

    #[test]
    fn xlsx_writes_200k_rows_in_constant_memory() {
        let t = Table { title: "大表".into(), headers: vec!["序号".into(), "名称".into(), "比率".into()], filters: vec![] };
        let out = Shared::default();
        let tmp = tempfile::tempdir().unwrap();
        let mut s = sink(Format::Xlsx, &t, Box::new(out.clone()), tmp.path()).unwrap();
        for i in 0..200_000i64 {
            s.row(&[Cell::Int(i), Cell::Text(format!("网格{i}")), Cell::Ratio { num: i as u64, den: 200_000 }]).unwrap();
        }
        s.finish().unwrap();
        let bytes = out.bytes();
        assert!(bytes.starts_with(b"PK"), "a zip came out");
        let mut book = read_xlsx(bytes);
        let range = book.worksheet_range_at(0).unwrap().unwrap();
        assert_eq!(range.height(), 4 + 200_000, "every row is in the sheet");
        assert_eq!(range.get_value((4 + 199_999, 1)), Some(&Data::String("网格199999".into())), "the last row is whole");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "the spooled sheet data leaves no file behind");
    }

    #[test]
    fn channel_writer_sends_chunks_and_stops_when_the_receiver_is_dropped() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let mut w = ChannelWriter::new(tx);
        let row = vec![b'x'; 1000];
        for _ in 0..70 {
            w.write_all(&row).unwrap();
        }
        let first = rx.try_recv().expect("64 KiB gathered are sent").unwrap();
        assert!(first.len() >= CHUNK && first.len() < CHUNK + 1000, "a chunk is about 64 KiB, not a row");
        w.flush().unwrap();
        assert_eq!(rx.try_recv().unwrap().unwrap().len(), 70_000 - first.len(), "flush sends the tail");
        drop(rx);
        let e = w.write_all(b"more").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "a write after the client left fails, so the producer stops");

        // Through a sink: the export stops at the first row after the receiver goes.
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let mut s = sink(Format::Csv, &table(&[]), Box::new(ChannelWriter::new(tx)), Path::new("/nonexistent")).unwrap();
        drop(rx);
        let mut failed = None;
        for i in 0..100_000 {
            if let Err(e) = s.row(&rows()[0]) {
                failed = Some((i, e));
                break;
            }
        }
        let (i, e) = failed.expect("a CSV export to a gone client fails");
        assert_eq!(e.code(), "io", "the failure is the broken pipe");
        assert!(i < 1000, "it fails within a csv buffer of rows, not after the whole export (row {i})");
    }
}
