//! Executing the upload pipeline in-process (`trove serve`, tests): the ASL interpreter
//! ([`asl`]) runs `statemachines/artifact-pipeline.asl.json`, the same definition Step
//! Functions runs in AWS, with each Task calling the pipeline step in-process.

pub mod asl;
pub mod faults;
pub mod local;

pub use local::LocalWorkflow;
