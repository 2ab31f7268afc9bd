//! The suite's last test. `cargo xtask test` runs it by name once `cargo test --workspace` has
//! ended (it is `test = false`, so no other run picks it up): every process the run started,
//! as recorded by the kit's process guard in the run directory, or found carrying the run's
//! variable in its environment, must be gone. Any that is not is named, then stopped.

use gridwalk_e2e::proc::{check_run, CHECK_RUN_DIR_ENV};
use std::time::Duration;

#[test]
fn no_process_the_test_run_started_is_still_alive() {
    let dir = std::env::var_os(CHECK_RUN_DIR_ENV).unwrap_or_else(|| {
        panic!("{CHECK_RUN_DIR_ENV} is not set: `cargo xtask test` runs this test after the suite, with the run's directory")
    });
    // A short grace for processes that are already on their way out (a parent just died).
    let recorded = check_run(dir.as_ref(), Duration::from_secs(5)).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        recorded > 0,
        "the run recorded no process in {dir:?}: the suite starts hundreds, so the guards did not see the run's directory"
    );
    eprintln!("leftovers: none of the {recorded} processes the run started is alive");
    std::fs::remove_dir_all(&dir).expect("remove the run's records");
}
