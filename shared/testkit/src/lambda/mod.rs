//! The Lambda functions as Lambda runs them, for the Lambda harness (functions/tests/lambda)
//! and its benchmark: a Runtime API emulator that spawns a built function binary
//! ([`runtime_api`]), the template's resources on moto ([`stack`]), the template read as
//! CloudFormation reads it ([`template`]) and its intrinsics resolved for one stack
//! ([`intrinsics`]), the table's stream as an event source mapping reads it ([`stream`]).

pub mod intrinsics;
pub mod runtime_api;
pub mod stack;
pub mod stream;
pub mod template;
