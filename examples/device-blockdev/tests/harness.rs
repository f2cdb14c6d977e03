//! The reference device plugin through the testkit's device harness, as a
//! vendor tests their own plugin: a fake sysfs with two disks, their
//! attributes, a reservation, statistics, and a resent fingerprint when a
//! disk appears.

use std::path::Path;
use std::time::Duration;

use nomad_plugin_testkit::device::DeviceHarness;

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, content).expect("write");
}

fn disk(sys: &Path, dev: &Path, name: &str, rotational: &str) {
    write(sys, &format!("{name}/device/model"), "ACME Disk 9000");
    write(sys, &format!("{name}/size"), "1953525168");
    write(sys, &format!("{name}/queue/rotational"), rotational);
    write(sys, &format!("{name}/queue/logical_block_size"), "512");
    write(sys, &format!("{name}/queue/physical_block_size"), "4096");
    write(sys, &format!("{name}/removable"), "0");
    write(sys, &format!("{name}/ro"), "0");
    write(
        sys,
        &format!("{name}/stat"),
        "  100 5 8000 40 50 1 4000 30 2 70 90 0 0 0 0 0 0\n",
    );
    write(dev, name, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fingerprints_reserves_and_reports_fake_disks() {
    let root = tempfile::tempdir().expect("tempdir");
    let (sys, dev) = (root.path().join("sys"), root.path().join("dev"));
    disk(&sys, &dev, "sda", "0");
    disk(&sys, &dev, "sdb", "0");

    let harness = DeviceHarness::builder(env!("CARGO_BIN_EXE_device-blockdev"))
        .config_hcl(format!(
            "sysfs_block = {:?}\ndev_dir = {:?}\nfingerprint_period = \"1s\"\n",
            sys.display().to_string(),
            dev.display().to_string()
        ))
        .patience(Duration::from_secs(60))
        .launch()
        .await
        .expect("launch and configure");
    assert_eq!(harness.name(), "device-blockdev");

    let groups = harness.fingerprint().await.expect("first fingerprint");
    assert_eq!(groups.len(), 1, "{groups:?}");
    let ssd = &groups[0];
    let ids: Vec<&str> = ssd.devices.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["sda", "sdb"]);
    assert_eq!(ssd.attributes["model"].to_string(), "ACME Disk 9000");

    let reservation = harness.reserve(&["sdb".into()]).await.expect("Reserve");
    let node = dev.join("sdb").display().to_string();
    assert_eq!(reservation.devices.len(), 1);
    assert_eq!(reservation.devices[0].host_path, node);
    assert_eq!(reservation.envs["BLOCKDEV_DEVICES"], node);
    assert!(harness.reserve(&["sdz".into()]).await.is_err());

    let mut stats = harness
        .stats(Duration::from_millis(500))
        .await
        .expect("Stats");
    let first = stats.next().await.expect("a stats message");
    let covered: Vec<&String> = first.iter().flat_map(|g| g.instances.keys()).collect();
    assert_eq!(covered, ["sda", "sdb"]);
    drop(stats);

    // A new disk, appearing at once (built aside, renamed into place): the
    // plugin resends its fingerprint with it.
    let staging = root.path().join("staging");
    disk(&staging, &dev, "sdc", "1");
    std::fs::rename(staging.join("sdc"), sys.join("sdc")).expect("add sdc");
    let later = harness
        .fingerprint_at(1)
        .await
        .expect("a second fingerprint");
    let mut all: Vec<&str> = later
        .iter()
        .flat_map(|g| g.devices.iter().map(|d| d.id.as_str()))
        .collect();
    all.sort();
    assert_eq!(all, ["sda", "sdb", "sdc"]);
    harness.shutdown().await.expect("graceful shutdown");
}
