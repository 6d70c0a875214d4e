//! The integration tests that may share the machine with each other: each owns its database,
//! streams, queues, topics and ports, and asserts nothing that needs an idle machine. One test
//! binary instead of one per file: each binary links the whole stack (about a minute on 2 cores).

#[path = "../browser/cdp.rs"]
mod cdp;
#[path = "../browser/fixture.rs"]
mod fixture;
#[path = "../support/mod.rs"]
mod support;

mod attached_hosts;
mod attached_run;
mod body_flood;
mod broker_depth;
mod broker_storage;
mod browser;
mod clock_check;
mod control_token;
mod dashboard;
mod dashboard_scale;
mod diag_hold;
mod duplicates;
mod freeze;
mod hostile_bodies;
mod idempotency;
mod invalid_envelopes;
mod locust_generator;
mod paths;
mod poison;
mod rabbitmq_recovery;
mod redis_pending;
mod report_page;
mod simulated_hosts;
mod slow_clients;
mod store_claim;
mod store_failures;
mod store_floor;
