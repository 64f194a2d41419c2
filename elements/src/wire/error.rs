//! The one error of the wire views.

use core::fmt;

/// The bytes are too short for the header they should hold, or a length field inside the
/// header disagrees with the buffer. Zero-sized: the caller knows which view it asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Malformed;

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed packet")
    }
}
