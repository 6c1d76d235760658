//! Executing the upload pipeline in-process (`trove serve`, tests). The same steps run as
//! Lambda functions under Step Functions in AWS.

pub mod local;

pub use local::LocalWorkflow;
