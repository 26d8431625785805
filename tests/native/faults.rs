//! Training survives bad data and interruptions: broken pairs are skipped with a warning that
//! names them, a failed checkpoint write leaves the last good checkpoint intact, and Ctrl-C
//! mid-run is continued by `--resume`.

use crate::common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{fixture, tempdir, train_bin};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// An Oxford-layout copy of the fixture pairs, plus the broken pairs a real download can hold.
fn oxford_with_broken_pairs(root: &Path) {
    let (images, trimaps) = (root.join("images"), root.join("annotations/trimaps"));
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(&trimaps).unwrap();
    let source = fixture("oxford");
    for entry in std::fs::read_dir(source.join("images")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        std::fs::copy(&path, images.join(format!("{name}.jpg"))).unwrap();
        let trimap = source.join(format!("annotations/trimaps/{name}.png"));
        std::fs::copy(trimap, trimaps.join(format!("{name}.png"))).unwrap();
    }
    let photo = std::fs::read(source.join("images/Abyssinian_1.jpg")).unwrap();
    let trimap = image::open(source.join("annotations/trimaps/Abyssinian_1.png"))
        .unwrap()
        .into_luma8();
    // A photo cut off mid-download, with its (good) trimap.
    std::fs::write(images.join("cut_1.jpg"), &photo[..photo.len() / 3]).unwrap();
    trimap.save(trimaps.join("cut_1.png")).unwrap();
    // A trimap of the wrong size.
    std::fs::write(images.join("small_1.jpg"), &photo).unwrap();
    image::imageops::thumbnail(&trimap, 40, 30)
        .save(trimaps.join("small_1.png"))
        .unwrap();
    // A trimap with a value outside 1..=3.
    std::fs::write(images.join("odd_1.jpg"), &photo).unwrap();
    let mut odd = trimap.clone();
    odd.put_pixel(3, 3, image::Luma([7]));
    odd.save(trimaps.join("odd_1.png")).unwrap();
    // A trimap that is not an image at all.
    std::fs::write(images.join("garbled_1.jpg"), &photo).unwrap();
    std::fs::write(trimaps.join("garbled_1.png"), b"not a png").unwrap();
    // A photo without a trimap is not a pair: ignored.
    std::fs::write(images.join("lonely_1.jpg"), &photo).unwrap();
}

fn segmenter_run(data: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut command = train_bin();
    command
        .args([
            "segmenter",
            "--image-size",
            "32",
            "--batch-size",
            "4",
            "--quiet",
        ])
        .args(["--valid-fraction", "0.3", "--data"])
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(extra);
    command
}

#[test]
fn broken_pairs_are_skipped_named_and_counted() {
    let dir = tempdir("broken");
    let data = dir.join("oxford");
    oxford_with_broken_pairs(&data);
    let output = segmenter_run(&data, &dir.join("run"), &["--epochs", "1"])
        .output()
        .unwrap();
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    for (file, why) in [
        ("cut_1.jpg", "truncated"),
        ("small_1.png", "trimap is 40x30 but its photo is"),
        ("odd_1.png", "unexpected trimap value 7"),
        ("garbled_1.png", "the trimap is not a readable image"),
    ] {
        let line = log
            .lines()
            .find(|l| l.starts_with("warning: skipped") && l.contains(file))
            .unwrap_or_else(|| panic!("no warning for {file}: {log}"));
        assert!(line.contains(why), "{line}");
    }
    let counted: usize = log
        .lines()
        .filter_map(|l| {
            l.strip_prefix("warning: ")?
                .strip_suffix(" file(s) skipped")
        })
        .map(|n| n.parse::<usize>().unwrap())
        .sum();
    assert_eq!(counted, 4, "the skipped files are counted: {log}");
    assert!(
        !log.contains("lonely_1"),
        "a photo without trimap is not a pair"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_empty_split_is_exit_2() {
    let dir = tempdir("empty-split");
    let data = dir.join("cats-vs-dogs");
    for split in ["train/cat", "train/dog", "validation/cat", "validation/dog"] {
        std::fs::create_dir_all(data.join(split)).unwrap();
    }
    for class in ["cat", "dog"] {
        let from = fixture(&format!("cats-vs-dogs/train/{class}"));
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(
                &path,
                data.join("train")
                    .join(class)
                    .join(path.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    let output = train_bin()
        .args(["classifier", "--quiet", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(dir.join("run"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("validation"),
        "{}",
        stderr(&output)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A checkpoint write that fails (a full disk, here a directory squatting on the temporary
/// file's name) stops the run with an error and leaves the last good checkpoint readable.
#[test]
fn a_failed_checkpoint_write_keeps_the_last_good_one() {
    let dir = tempdir("full-disk");
    let (data, out) = (fixture("oxford"), dir.join("run"));
    // Two epochs planned; out of time after the first.
    let first = segmenter_run(&data, &out, &["--epochs", "2", "--max-minutes", "0"])
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    let checkpoint = std::fs::read(out.join("checkpoint.bpk")).unwrap();
    let state = std::fs::read(out.join("state.json")).unwrap();
    std::fs::create_dir_all(out.join("checkpoint.tmp")).unwrap();

    let failed = segmenter_run(&data, &out, &["--epochs", "2", "--resume"])
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(
        stderr(&failed).contains("checkpoint.bpk"),
        "{}",
        stderr(&failed)
    );
    assert_eq!(
        std::fs::read(out.join("checkpoint.bpk")).unwrap(),
        checkpoint
    );
    assert_eq!(std::fs::read(out.join("state.json")).unwrap(), state);

    std::fs::remove_dir(out.join("checkpoint.tmp")).unwrap();
    let resumed = segmenter_run(&data, &out, &["--epochs", "2", "--resume"])
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(stderr(&resumed).contains("resuming segmenter after epoch 1"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Gives the child SIGINT's default action (terminate). A shell starts background jobs (`nohup …
/// &`, many CI runners) with SIGINT ignored and children inherit that, so without this the test's
/// Ctrl-C would not stop the run there.
#[cfg(unix)]
fn default_sigint(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: `signal` is async-signal-safe, as a `pre_exec` closure must be.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            Ok(())
        });
    }
}

/// Ctrl-C (SIGINT) in the middle of a run, then `--resume`: the run continues after the last
/// completed epoch.
#[cfg(unix)]
#[test]
fn ctrl_c_then_resume_continues_after_the_last_epoch() {
    let dir = tempdir("ctrl-c");
    let (data, out) = (fixture("oxford"), dir.join("run"));
    let mut run = segmenter_run(&data, &out, &["--epochs", "1000", "--patience", "1000"]);
    run.stderr(Stdio::null());
    default_sigint(&mut run);
    let mut child = run.spawn().unwrap();
    let state = out.join("state.json");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !state.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(state.exists(), "a first epoch completes");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(!exit.success(), "interrupted, not finished");
    let done: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let epochs_done = done["epochs_done"].as_u64().unwrap();
    assert!(epochs_done >= 1);

    // The same run, resumed for one more epoch (a resume must keep the run's options; the
    // session's stopping rules may change): the epoch it starts is completed and recorded.
    let steps_per_epoch = done["steps_done"].as_u64().unwrap() / epochs_done;
    let steps = (done["steps_done"].as_u64().unwrap() + steps_per_epoch).to_string();
    let resumed = segmenter_run(
        &data,
        &out,
        &[
            "--epochs",
            "1000",
            "--patience",
            "1000",
            "--resume",
            "--max-steps",
            &steps,
        ],
    )
    .output()
    .unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains(&format!("resuming segmenter after epoch {epochs_done}")),
        "{}",
        stderr(&resumed)
    );
    let after: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(after["epochs_done"].as_u64().unwrap(), epochs_done + 1);
    assert_eq!(
        after["history"].as_array().unwrap().len() as u64,
        epochs_done + 1
    );
    assert!(after["partial_epoch"].is_null());
    let _ = std::fs::remove_dir_all(&dir);
}
