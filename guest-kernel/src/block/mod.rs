//! The block layer (Linux's block/). There are no block devices yet; what user space already
//! sees of the layer is the per-thread I/O priority (`ioprio`).

pub mod ioprio;
