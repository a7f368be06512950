//! ACPI: the firmware's tables (Linux's drivers/acpi). The kernel reads them at boot for the
//! processors (the MADT); there is no AML interpreter.

pub mod madt;
pub mod tables;
#[cfg(test)]
mod tests;
