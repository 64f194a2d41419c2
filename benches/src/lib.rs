//! Benchmark support shared by the criterion benches and `sluice bench`.
