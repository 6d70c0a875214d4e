//! The processes of a measurement: the ingress and subscribers the runner starts as children on
//! sockets it holds, and the broker settings and topology names of one run.

pub mod brokers;
pub mod cgroup;
pub mod children;
pub mod services;
