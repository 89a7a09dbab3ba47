//! Chaos tests: real processes and real servers on loopback (a private
//! three-node NATS cluster, a private PostgreSQL, real `nasvyazi`
//! processes), killed and restarted on purpose. See `tests/src/cluster.rs`.

mod streams;
