//! Family module; see the crate docs.

use sluice_dataplane::ElementClass;

/// The classes of this family, each a `static` named as Click names it.
#[allow(non_upper_case_globals)]
pub mod classes {}

/// Every class of this family.
pub static ALL: &[&ElementClass] = &[];
