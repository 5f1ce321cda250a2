//! chatcourse-channels: how chatcourse reaches learners where they are.
//!
//! Boundary: this crate owns the facts of the outside world's formats and
//! nothing of chatcourse's own storage or HTTP API: phone numbers
//! ([`Phone`], E.164), Standard Webhooks signatures ([`signing`]), channel
//! secrets sealed at rest ([`sealing`]), the outbox's retry rules
//! ([`retry`]), what a text costs as SMS ([`sms`]), and each provider's wire format
//! ([`twilio`], [`africastalking`], [`whatsapp`], with [`form`] bodies). It does no I/O of its
//! own: the server sends what it builds.

pub mod africastalking;
#[cfg(feature = "fakes")]
pub mod fakes;
pub mod form;
pub mod phone;
pub mod retry;
pub mod sealing;
pub mod signing;
pub mod sms;
pub mod twilio;
pub mod whatsapp;

pub use phone::{Country, Phone, PhoneError};
