//! A case published twice is stored once and counted as a duplicate, on every path.

use crate::support;

use brokerbench_common::counter::CounterMetric;
use brokerbench_common::envelope::{Case, Envelope, now_ns};
use brokerbench_common::settings::Middleware;
use brokerbench_publishers::Publisher;
use support::Pipeline;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_case_is_stored_once_and_counted() {
    let pipeline = Pipeline::start(&Middleware::ALL, "all", &[]).await;
    let settings = pipeline.settings();
    let case = Case {
        name: "Duplicada".into(),
        location: "Jalapa".into(),
        age: 40,
        infectedtype: "imported".into(),
        state: "symptomatic".into(),
    };
    let envelope = Envelope::accept(case, now_ns(), None);
    for m in Middleware::ALL {
        let publisher = Publisher::connect(m, &settings)
            .await
            .expect("publisher connects");
        publisher
            .publish(std::slice::from_ref(&envelope))
            .await
            .expect("first publish");
        pipeline.wait_stored(m, 1).await;
        publisher
            .publish(std::slice::from_ref(&envelope))
            .await
            .expect("second publish");
        let stats = pipeline.wait_stored(m, 2).await;
        assert_eq!(
            stats.counter(CounterMetric::Stored, Some(m)),
            Some(1),
            "{m}: stored"
        );
        assert_eq!(
            stats.counter(CounterMetric::Duplicates, Some(m)),
            Some(1),
            "{m}: duplicates"
        );
        assert_eq!(
            stats.counter(CounterMetric::Errors, Some(m)),
            Some(0),
            "{m}: errors"
        );
        assert_eq!(pipeline.documents(m).await.len(), 1, "{m}: documents");
    }
}
