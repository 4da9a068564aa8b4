use super::*;
use crate::domain::{Event, UserId};

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 16 << 20).unwrap();
    (dir, store)
}

#[tokio::test]
async fn a_written_unit_is_readable_and_its_events_get_consecutive_sequences() {
    let (_dir, store) = open();
    let ev = |n| Event::CartCreated {
        cart_id: crate::domain::CartId(n),
        user_id: UserId(1),
    };
    let first = store
        .write(
            Unit::default()
                .put(b"k1".to_vec(), codec::encode(&7u64))
                .event(ev(1)),
        )
        .await
        .unwrap();
    let second = store
        .write(Unit::default().event(ev(2)).event(ev(3)))
        .await
        .unwrap();
    assert_eq!(first.last_seq, Some(1));
    assert_eq!(second.last_seq, Some(3));
    assert_eq!(store.get::<u64>(b"k1").unwrap(), Some(7));
    let log = store
        .scan_prefix::<crate::domain::event::EventRecord>(keys::EVENTS)
        .unwrap();
    let seqs: Vec<u64> = log.iter().map(|(_, r)| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
}

#[tokio::test]
async fn concurrent_claims_on_one_key_grant_exactly_one() {
    let (_dir, store) = open();
    let pendings: Vec<Pending> = (0u64..20)
        .map(|i| {
            store.submit(Unit::default().claim(b"un/alice".to_vec(), i.to_be_bytes().to_vec()))
        })
        .collect();
    let mut granted = 0;
    for p in pendings {
        match settle(p).await {
            Ok(_) => granted += 1,
            Err(StorageError::Conflict(k)) => assert_eq!(k, b"un/alice"),
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(granted, 1);
    // The holder may claim its own key again (e.g. saving an unchanged name).
    let holder = store.inner.db.get(b"un/alice").unwrap().unwrap().to_vec();
    assert!(store
        .write(Unit::default().claim(b"un/alice".to_vec(), holder))
        .await
        .is_ok());
}

#[tokio::test]
async fn a_closed_store_refuses_writes_with_writer_gone() {
    let (_dir, store) = open();
    store.stop_writer().await;
    assert!(!store.is_writable());
    assert!(matches!(
        store
            .write(Unit::default().put(b"k".to_vec(), vec![1]))
            .await,
        Err(StorageError::WriterGone)
    ));
}

#[tokio::test]
async fn readers_of_the_log_never_see_events_past_the_durable_head() {
    let (_dir, store) = open();
    let ev = |n| Event::CartCreated {
        cart_id: crate::domain::CartId(n),
        user_id: UserId(1),
    };
    for n in 1..=2 {
        store.write(Unit::default().event(ev(n))).await.unwrap();
    }
    // What the writer leaves between applying a batch and finishing its flush: the
    // event is in the tree, the head has not moved.
    let applied = crate::domain::event::EventRecord {
        seq: 3,
        at: store.now(),
        event: ev(3),
    };
    store
        .inner
        .db
        .insert(keys::event(3), codec::encode(&applied))
        .unwrap();
    assert_eq!(*store.head().borrow(), 2);

    let seqs = |after| -> Vec<u64> {
        let events = store.events_after(after, 100).unwrap();
        events.iter().map(|e| e.seq).collect()
    };
    assert_eq!(seqs(0), [1, 2]);
    assert_eq!(seqs(2), Vec::<u64>::new());
    assert_eq!(seqs(u64::MAX), Vec::<u64>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_read_while_writes_are_in_flight_never_pass_the_head() {
    let (_dir, store) = open();
    let writers: Vec<_> = (0..8u64)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..50 {
                    let ev = Event::CartCreated {
                        cart_id: crate::domain::CartId(w * 1000 + n),
                        user_id: UserId(1),
                    };
                    store.write(Unit::default().event(ev)).await.unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            while *store.head().borrow() < 400 {
                let read = store.events_after(0, usize::MAX).unwrap();
                // The head only grows: read after the events, it bounds what they can be.
                let head = *store.head().borrow();
                if let Some(last) = read.last() {
                    assert!(last.seq <= head, "read seq {} past head {head}", last.seq);
                }
            }
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    reader.await.unwrap();
}

#[tokio::test]
async fn sequences_never_repeat_even_after_the_whole_log_is_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let ev = Event::CartCreated {
        cart_id: crate::domain::CartId(1),
        user_id: UserId(1),
    };
    {
        let store = Store::open(dir.path(), 16 << 20).unwrap();
        for _ in 0..3 {
            store
                .write(Unit::default().event(ev.clone()))
                .await
                .unwrap();
        }
        assert_eq!(store.trim_events(4).await.unwrap(), 3);
        assert!(store.events_after(0, 10).unwrap().is_empty());
        store.close().await.unwrap();
    }
    let store = Store::open(dir.path(), 16 << 20).unwrap();
    assert_eq!(*store.head().borrow(), 3);
    let c = store.write(Unit::default().event(ev)).await.unwrap();
    assert_eq!(c.last_seq, Some(4));
}

#[tokio::test]
async fn the_sequence_continues_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let ev = Event::CartCreated {
        cart_id: crate::domain::CartId(1),
        user_id: UserId(1),
    };
    {
        let store = Store::open(dir.path(), 16 << 20).unwrap();
        store
            .write(Unit::default().event(ev.clone()))
            .await
            .unwrap();
        store.close().await.unwrap();
    }
    let store = Store::open(dir.path(), 16 << 20).unwrap();
    let c = store.write(Unit::default().event(ev)).await.unwrap();
    assert_eq!(c.last_seq, Some(2));
}

#[tokio::test]
async fn a_closed_store_can_be_reopened_at_once_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let ev = Event::CartCreated {
        cart_id: crate::domain::CartId(1),
        user_id: UserId(1),
    };
    // Each round writes (so sled's I/O threads have just worked) and closes; the next
    // open must never find the lock still taken.
    for round in 1..=30u64 {
        let store = Store::open(dir.path(), 16 << 20)
            .unwrap_or_else(|e| panic!("reopen {round} failed: {e}"));
        let c = store
            .write(Unit::default().event(ev.clone()))
            .await
            .unwrap();
        assert_eq!(c.last_seq, Some(round));
        store.close().await.unwrap();
    }
}

#[tokio::test]
async fn opening_a_directory_a_live_store_holds_fails_at_once() {
    let (dir, store) = open();
    let second = Store::open(dir.path(), 16 << 20);
    assert!(second.is_err(), "a second open of a held dir must fail");
    store.close().await.unwrap();
    assert!(Store::open(dir.path(), 16 << 20).is_ok());
}
