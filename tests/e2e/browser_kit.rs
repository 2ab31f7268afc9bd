//! The browser kit the web console's tests stand on (gridwalk_e2e::browser), proved on a page
//! of its own: headless Chromium through chromedriver clicks a button and reads what changed,
//! picks an option from an Element Plus-like select (its popper teleported to <body>, a closed
//! one left hidden in the DOM), reads a list, downloads a file served as an attachment and
//! finds it finished on disk, and saves a 1366×768 screenshot as
//! target/screenshots/browser-kit.png.

use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use gridwalk_e2e::browser::{Chromedriver, ChromiumOptions, Session};

/// The CSV the page's link downloads: UTF-8 with a BOM, as spreadsheet programs want it.
const EXPORT: &str = "\u{feff}编号,街道,状态\n1,小关街道,已办结\n2,和平街街道,处理中\n";

const PAGE: &str = r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>browser kit</title>
<style>
  body { font-family: sans-serif; margin: 24px; }
  .el-select { display: inline-block; width: 200px; padding: 4px; border: 1px solid #888; cursor: pointer; }
  .el-select-dropdown { position: absolute; background: #fff; border: 1px solid #ccc; }
  .el-select-dropdown__item { padding: 4px 12px; }
</style></head>
<body>
  <h1>网格走访 · 控制台</h1>
  <p id="status">未点击</p>
  <button id="flip" onclick="document.getElementById('status').textContent = '已点击 ' + (++window.clicks) + ' 次'">点一下</button>
  <div><div class="el-select" id="street"><span id="street-value">请选择街道</span></div></div>
  <ul id="rows"><li>小关街道</li><li>和平街街道</li><li>安贞街道</li></ul>
  <p><a id="export" href="/export.csv">导出 CSV</a></p>
  <!-- Another select's closed popper, still in the DOM: its items must not be the ones picked. -->
  <div class="el-select-dropdown" style="display: none">
    <div class="el-select-dropdown__item" data-value="other">另一个下拉</div>
  </div>
  <script>
    window.clicks = 0;
    const select = document.getElementById('street');
    select.addEventListener('click', () => {
      // As Element Plus does: the popper is appended to <body>, shown after a moment.
      setTimeout(() => {
        const popper = document.createElement('div');
        popper.className = 'el-select-dropdown';
        popper.innerHTML = ['小关街道', '和平街街道'].map(
          (s, i) => `<div class="el-select-dropdown__item" data-value="${i}">${s}</div>`).join('');
        popper.addEventListener('click', (e) => {
          document.getElementById('street-value').textContent = e.target.textContent;
          popper.remove();
        });
        document.body.appendChild(popper);
      }, 150);
    });
  </script>
</body></html>
"#;

/// The page and its export, on 127.0.0.1:0, on a runtime of its own (the Session blocks on
/// its own runtime, so the server must not need this thread).
fn serve() -> (tokio::runtime::Runtime, String) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let app = axum::Router::new().route("/", get(|| async { Html(PAGE) })).route(
        "/export.csv",
        get(|| async {
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (header::CONTENT_DISPOSITION, "attachment; filename=\"issues-export.csv\""),
                ],
                EXPORT,
            )
                .into_response()
        }),
    );
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await });
    (rt, url)
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR", "a PNG with its IHDR first");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

#[test]
fn headless_chromium_clicks_reads_selects_downloads_and_screenshots() {
    let (_server, url) = serve();
    let driver = Chromedriver::start();
    let s = Session::chromium(&driver, ChromiumOptions { width: 1366, height: 768 });

    s.goto(&format!("{url}/"));
    assert_eq!(s.current_url(), format!("{url}/"), "goto waits for the page it was given");
    assert_eq!(s.text("#status"), "未点击", "text reads the rendered text, CJK included");

    s.click("#flip");
    s.click("#flip");
    assert_eq!(s.text("#status"), "已点击 2 次", "each click reaches the page once");

    s.select_option("#street", ".el-select-dropdown__item[data-value='1']");
    assert_eq!(s.text("#street-value"), "和平街街道", "select_option picks the option in the popper it opened");
    s.wait_until("the popper to close", "return !document.querySelector('.el-select-dropdown__item[data-value=\"1\"]')", 5);

    assert_eq!(s.text_of_all("#rows li"), ["小关街道", "和平街街道", "安贞街道"], "text_of_all reads every match in document order");
    assert!(s.text_of_all("#rows .missing").is_empty(), "text_of_all of no match is empty, not a wait");

    s.click("#export");
    let file = s.wait_for_download("csv", 30);
    assert_eq!(file.parent(), Some(s.download_dir()), "downloads land in the session's own directory, without a prompt");
    assert_eq!(file.file_name().unwrap(), "issues-export.csv", "the file keeps the name Content-Disposition gave it");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), EXPORT, "the downloaded file is the whole export, byte for byte");

    s.set_size(1366, 768);
    assert_eq!(
        s.exec("return [innerWidth, innerHeight]", serde_json::json!([])),
        serde_json::json!([1366, 768]),
        "set_size sizes the viewport"
    );
    let shot = gridwalk_e2e::screenshots_dir().join("browser-kit.png");
    let _ = std::fs::remove_file(&shot);
    s.screenshot(&shot);
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert_eq!(png_size(&png), (1366, 768), "the screenshot is the 1366×768 viewport");
    s.quit();
}
