//! Listing volumes (pagination included) and the snapshot round trip.

use super::*;

impl Suite {
    pub(super) async fn list_volumes(&mut self, volume_id: &str) {
        let t = self.o.call_timeout;
        let mut ctrl = self.c.controller.clone();
        let mut seen = Vec::new();
        let mut token = String::new();
        let mut outcome = Ok(String::new());
        let mut pages = 0;
        for _ in 0..10_000 {
            pages += 1;
            match timed(
                t,
                ctrl.list_volumes(pb::ListVolumesRequest {
                    max_entries: 1,
                    starting_token: token.clone(),
                }),
            )
            .await
            {
                Ok(page) => {
                    if page.entries.len() > 1 {
                        outcome = Err(format!("asked for 1 entry, got {}; Nomad pages through volumes with max_entries", page.entries.len()));
                        break;
                    }
                    seen.extend(
                        page.entries
                            .into_iter()
                            .filter_map(|e| e.volume.map(|v| v.volume_id)),
                    );
                    if page.next_token.is_empty() {
                        break;
                    }
                    token = page.next_token;
                }
                Err(s) => {
                    outcome = Err(format!(
                        "ListVolumes failed ({}); Nomad cannot list the plugin's volumes",
                        show(&s)
                    ));
                    break;
                }
            }
        }
        if outcome.is_ok() {
            let unique: HashSet<_> = seen.iter().collect();
            outcome = if unique.len() != seen.len() {
                Err("paging with max_entries=1 returned a volume twice".into())
            } else if !seen.iter().any(|v| v == volume_id) {
                Err(format!("the volume {volume_id} is missing from ListVolumes; Nomad's volume listing would not show it"))
            } else {
                Ok(format!(
                    "{} volumes over {pages} pages of at most 1",
                    seen.len()
                ))
            };
        }
        self.r.record("controller.list_volumes", outcome);
        let r = timed(
            t,
            ctrl.list_volumes(pb::ListVolumesRequest {
                max_entries: 0,
                starting_token: "nomad-testkit-bogus-token".into(),
            }),
        )
        .await;
        self.expect_code("controller.list_volumes_bad_token", Code::Aborted,
            "the spec requires ABORTED for a starting_token the plugin did not issue, so the caller restarts the listing", r);
    }

    pub(super) async fn snapshots(&mut self, volume_id: &str) {
        let t = self.o.call_timeout;
        let mut ctrl = self.c.controller.clone();
        let req = pb::CreateSnapshotRequest {
            source_volume_id: volume_id.into(),
            name: format!("nomad-testkit-snap-{volume_id}"),
            ..Default::default()
        };
        let first = match timed(t, ctrl.create_snapshot(req.clone())).await {
            Ok(s) => s.snapshot.unwrap_or_default(),
            Err(s) => {
                self.r.record(
                    "controller.create_snapshot",
                    Err(format!(
                        "CreateSnapshot failed ({}); `nomad volume snapshot create` fails",
                        show(&s)
                    )),
                );
                return;
            }
        };
        self.r.record(
            "controller.create_snapshot",
            if first.snapshot_id.is_empty() {
                Err("CreateSnapshot returned no snapshot id; Nomad could never delete it".into())
            } else if first.source_volume_id != volume_id {
                Err(format!(
                    "the snapshot names source volume {:?}, not {volume_id:?}",
                    first.source_volume_id
                ))
            } else {
                Ok(format!("snapshot {}", first.snapshot_id))
            },
        );
        let again = timed(t, ctrl.create_snapshot(req)).await;
        self.r.record("controller.create_snapshot_idempotent", match again {
            Ok(s) if s.snapshot.as_ref().is_some_and(|s| s.snapshot_id == first.snapshot_id) => Ok("same snapshot".into()),
            Ok(_) => Err("a repeated CreateSnapshot made another snapshot; Nomad's retries would leak snapshots".into()),
            Err(s) => Err(format!("a repeated CreateSnapshot failed ({})", show(&s))),
        });
        if self.ctrl.contains(&CtrlCap::ListSnapshots) {
            let r = timed(
                t,
                ctrl.list_snapshots(pb::ListSnapshotsRequest {
                    snapshot_id: first.snapshot_id.clone(),
                    ..Default::default()
                }),
            )
            .await;
            self.r.record("controller.list_snapshots", match r {
                Ok(l) if l.entries.iter().any(|e| e.snapshot.as_ref().is_some_and(|s| s.snapshot_id == first.snapshot_id)) => Ok("listed".into()),
                Ok(_) => Err("the new snapshot is missing from ListSnapshots; `nomad volume snapshot list` would not show it".into()),
                Err(s) => Err(format!("ListSnapshots failed ({})", show(&s))),
            });
        }
        let d1 = timed(
            t,
            ctrl.delete_snapshot(pb::DeleteSnapshotRequest {
                snapshot_id: first.snapshot_id.clone(),
                ..Default::default()
            }),
        )
        .await;
        let d2 = timed(
            t,
            ctrl.delete_snapshot(pb::DeleteSnapshotRequest {
                snapshot_id: first.snapshot_id.clone(),
                ..Default::default()
            }),
        )
        .await;
        self.r.record(
            "controller.delete_snapshot",
            match (d1, d2) {
                (Ok(_), Ok(_)) => Ok("deleted, and deleting again succeeded".into()),
                (Err(s), _) => Err(format!(
                    "DeleteSnapshot failed ({}); `nomad volume snapshot delete` fails",
                    show(&s)
                )),
                (_, Err(s)) => Err(format!(
                    "deleting a deleted snapshot failed ({}); the spec requires success",
                    show(&s)
                )),
            },
        );
    }
}
