//! Architecture-specific set-up. Only x86_64 for now; the rest of the VMM sees these modules.

pub mod x86_64;
