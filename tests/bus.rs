//! The event bus in-process: a subscriber stopped for a while catches up without loss,
//! duplication or reordering.

use ractor::{Actor, ActorProcessingErr};
use std::time::Duration;
use trolley::actors::bus::{offset_of, Projection, Subscriber};
use trolley::domain::event::EventRecord;
use trolley::domain::{CartId, Event, UserId};
use trolley::storage::{codec, Store, Unit};

/// Counts how often it saw each sequence number, and notes any that did not follow the last.
#[derive(Clone)]
struct Recorder;

fn seen_key(seq: u64) -> Vec<u8> {
    [b"rec/".as_slice(), &seq.to_be_bytes()].concat()
}

impl Projection for Recorder {
    const NAME: &'static str = "recorder";

    fn apply(
        &self,
        store: &Store,
        events: &[EventRecord],
        unit: Unit,
    ) -> Result<Unit, ActorProcessingErr> {
        let mut last = offset_of(store, Self::NAME)?;
        let mut unit = unit;
        for e in events {
            if e.seq != last + 1 {
                unit = unit.put(b"rec-violation".to_vec(), codec::encode(&e.seq));
            }
            last = e.seq;
            let seen: u64 = store.get(&seen_key(e.seq))?.unwrap_or(0);
            unit = unit.put(seen_key(e.seq), codec::encode(&(seen + 1)));
        }
        Ok(unit)
    }
}

async fn emit(store: &Store, n: u64) {
    for i in 0..n {
        let event = Event::CartCreated {
            cart_id: CartId(i),
            user_id: UserId(1),
        };
        store.write(Unit::default().event(event)).await.unwrap();
    }
}

async fn caught_up(store: &Store) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while offset_of(store, Recorder::NAME).unwrap() < *store.head().borrow() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "subscriber did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn assert_each_seen_once(store: &Store, upto: u64) {
    for seq in 1..=upto {
        let seen: Option<u64> = store.get(&seen_key(seq)).unwrap();
        assert_eq!(seen, Some(1), "event {seq}");
    }
    assert!(
        store.get::<u64>(b"rec-violation").unwrap().is_none(),
        "out of order"
    );
}

#[tokio::test]
async fn a_stopped_subscriber_catches_up_without_loss_duplication_or_reordering() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 16 << 20).unwrap();
    let subscriber = Subscriber {
        store: store.clone(),
        projection: Recorder,
    };

    emit(&store, 30).await;
    let (running, handle) = Actor::spawn(None, subscriber.clone(), ()).await.unwrap();
    caught_up(&store).await;
    assert_each_seen_once(&store, 30);

    running.stop(None);
    handle.await.unwrap();
    emit(&store, 1200).await; // more than two of its batches
    assert_eq!(
        offset_of(&store, Recorder::NAME).unwrap(),
        30,
        "stopped means stopped"
    );

    let (running, handle) = Actor::spawn(None, subscriber, ()).await.unwrap();
    caught_up(&store).await;
    assert_each_seen_once(&store, 1230);
    // And it keeps following live events.
    emit(&store, 5).await;
    caught_up(&store).await;
    assert_each_seen_once(&store, 1235);
    running.stop(None);
    handle.await.unwrap();
}
