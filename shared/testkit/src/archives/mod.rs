//! Archives to scan, written with the standard writers: small hostile fixtures (EICAR, bombs,
//! traversal, links) and large incompressible ones for the limits and the benches.

pub mod fixtures;
pub mod noise;
