//! Character devices with no hardware behind them.

pub mod mem;
