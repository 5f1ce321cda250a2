//! Fakes of the outside world for tests and for trying chatcourse
//! locally (feature `fakes`): small HTTP servers on 127.0.0.1 that speak a
//! receiver's or a gateway's real wire format, record what they get, and
//! fail on command. Never used by the server itself.

pub mod receiver;

pub use receiver::{Delivery, FakeReceiver, Reply};
