//! Helpers shared by the standard elements: handler value parsing, packet templates for
//! sources, and handler calls (`END_CALL`, `COUNT_CALL`).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sluice_config::args::FromArg;
use sluice_dataplane::{Context, Element, HandlerError};

/// Click's default source data: "at least 64 bytes long", as Click's sources say.
pub(crate) const DEFAULT_DATA: &[u8] =
    b"Random bullshit in a packet, at least 64 bytes long. Well, now it is.";

pub(crate) use crate::ip::common::{bool_str, parse_value};

/// A non-negative decimal number as a fixed-point value with `frac_bits` fraction bits,
/// rounded to nearest (Click's `FixedPointArg`); `None` when it is not one or does not fit
/// 32 bits.
pub(crate) fn parse_fixed(text: &str, frac_bits: u32) -> Option<u32> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut value = int.checked_mul(1 << frac_bits)?;
    // The fraction's first digits decide the rounding; more cannot change it.
    let digits = &frac[..frac.len().min(12)];
    if !digits.is_empty() {
        let num: u64 = digits.parse().ok()?;
        let den = 10u64.pow(digits.len() as u32);
        value += (num * (1 << frac_bits) + den / 2) / den;
    }
    u32::try_from(value).ok()
}

/// The shortest decimal that [`parse_fixed`] reads back as `value` (Click's
/// `cp_unparse_real2`): `0.5`, `1`, `0.001`.
pub(crate) fn unparse_fixed(value: u32, frac_bits: u32) -> String {
    let one = 1u64 << frac_bits;
    let int = u64::from(value) >> frac_bits;
    let frac = u64::from(value) & (one - 1);
    if frac == 0 {
        return format!("{int}");
    }
    for digits in 1..=12u32 {
        let den = 10u64.pow(digits);
        let num = (frac * den + one / 2) / one;
        let text = format!("{int}.{num:0width$}", width = digits as usize);
        if parse_fixed(&text, frac_bits) == Some(value) {
            return text.trim_end_matches('0').to_string();
        }
    }
    format!("{int}.{frac}")
}

/// The bytes of a source's packet: `data`, truncated or repeated to `length` bytes when a
/// length is given (Click's `LENGTH`). Empty data with a length gives zero bytes.
pub(crate) fn packet_bytes(data: &[u8], length: Option<usize>) -> Vec<u8> {
    match length {
        None => data.to_vec(),
        Some(n) if data.is_empty() => alloc::vec![0; n],
        Some(n) => data.iter().copied().cycle().take(n).collect(),
    }
}

/// Renders packet data for a `data` read handler: printable ASCII as is, anything else as
/// Click's `\<hex>` escape so the value can be written back.
pub(crate) fn unparse_data(data: &[u8]) -> String {
    if data
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'\\' && b != b'"')
    {
        return format!("\"{}\"", String::from_utf8_lossy(data));
    }
    let mut s = String::from("\\<");
    for (i, b) in data.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s.push('>');
    s
}

/// A handler to call with a value, written `HANDLER [VALUE]` (Click's `HandlerCall`).
/// `elem.handler` names an element's handler; a bare name is a global handler (`stop`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HandlerCall {
    pub path: String,
    pub value: String,
}

impl HandlerCall {
    /// Parses `HANDLER [VALUE]`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (path, value) = match text.split_once(char::is_whitespace) {
            Some((p, v)) => (p, v.trim()),
            None => (text, ""),
        };
        if path.is_empty() {
            return Err("expected 'HANDLER [VALUE]'".into());
        }
        let value = sluice_config::args::unquote(value)?;
        Ok(Self {
            path: path.into(),
            value,
        })
    }

    /// Calls the write handler; a failure is logged, as Click reports it, and returned.
    pub fn call(&self, ctx: &mut Context<'_>) -> Result<(), HandlerError> {
        self.call_from(None, ctx)
    }

    /// As [`HandlerCall::call`], from inside element `me`: a call on one of `me`'s own
    /// handlers (`c.reset` in `c :: Counter(COUNT_CALL 10 c.reset)`) goes to `me` directly,
    /// as in Click, since the router cannot reach an element that is busy with a packet.
    pub fn call_from(
        &self,
        me: Option<&mut dyn Element>,
        ctx: &mut Context<'_>,
    ) -> Result<(), HandlerError> {
        let own = self
            .path
            .rsplit_once('.')
            .filter(|(elem, _)| *elem == ctx.name())
            .map(|(_, h)| h);
        let r = match (me, own) {
            (Some(me), Some(h)) => me.write_handler(ctx, h, &self.value),
            _ => ctx.write_handler(&self.path, &self.value),
        };
        if let Err(e) = &r {
            log_write_error(ctx, &self.path, &self.value, e);
        }
        r
    }
}

/// Reports a failed handler write as Click does: a missing element or handler in one line
/// (`no 'c.nope' write handler`), a rejected value under the call as written
/// (`While calling 'ar.config zz':` and the messages, indented).
pub(crate) fn log_write_error(ctx: &Context<'_>, path: &str, value: &str, e: &HandlerError) {
    match e {
        HandlerError::NoSuchHandler(_) => ctx.log(&format!("no '{path}' write handler")),
        HandlerError::NoSuchElement(elem) => ctx.log(&format!("no element named '{elem}'")),
        HandlerError::BadValue(message) => {
            if value.is_empty() {
                ctx.log(&format!("While calling '{path}':"));
            } else {
                ctx.log(&format!("While calling '{path} {value}':"));
            }
            for line in message.lines() {
                ctx.log(&format!("  {line}"));
            }
        }
    }
}

impl FromArg for HandlerCall {
    const EXPECTED: &'static str = "a handler call";
    fn from_arg(
        text: &str,
        _: Option<&dyn sluice_config::args::NameLookup>,
    ) -> Result<Self, String> {
        Self::parse(text)
    }
}

/// `x` without its fraction (`f64::trunc` needs `std`).
pub(crate) fn trunc(x: f64) -> f64 {
    if fabs(x) >= 9.0e15 || x.is_nan() {
        x
    } else {
        x as i64 as f64
    }
}

/// `|x|` (`f64::abs` needs `std`).
pub(crate) fn fabs(x: f64) -> f64 {
    if x < 0.0 {
        -x
    } else {
        x
    }
}

/// A rate as Click prints it: an integer when whole, else up to three decimals (rounded).
///
/// Integer arithmetic only: float formatting would add ~10 KiB of code to an image for
/// this one handler.
pub(crate) fn unparse_rate(r: f64) -> String {
    if r.is_nan() {
        return "NaN".into();
    }
    let sign = if r < 0.0 { "-" } else { "" };
    let a = fabs(r);
    if a == f64::INFINITY {
        return format!("{sign}inf");
    }
    if a == trunc(a) {
        // Every f64 from 2^53 on is whole.
        return format!("{sign}{}", a as u128);
    }
    // The fraction alone (exact), in thousandths rounded to nearest, ties to even, as
    // float formatting rounds.
    let int = a as u64;
    let scaled = (a - int as f64) * 1000.0;
    let floor = scaled as u64;
    let rest = scaled - floor as f64;
    let thousandths = floor + u64::from(rest > 0.5 || (rest == 0.5 && floor % 2 == 1));
    let (whole, frac) = (int + thousandths / 1000, thousandths % 1000);
    if a >= 1e15 {
        // Too large for decimals: the nearest integer, ties to even.
        let half = a - int as f64;
        let up = half > 0.5 || (half == 0.5 && int % 2 == 1);
        return format!("{sign}{}", int + u64::from(up));
    }
    if frac == 0 {
        return format!("{sign}{whole}");
    }
    let digits = format!("{frac:03}");
    format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_bytes_truncates_and_repeats() {
        assert_eq!(packet_bytes(b"abc", None), b"abc");
        assert_eq!(packet_bytes(b"abc", Some(2)), b"ab");
        assert_eq!(packet_bytes(b"abc", Some(7)), b"abcabca");
        assert_eq!(packet_bytes(b"", Some(3)), [0, 0, 0]);
    }

    #[test]
    fn handler_calls_parse() {
        let h = HandlerCall::parse("c.reset").unwrap();
        assert_eq!((h.path.as_str(), h.value.as_str()), ("c.reset", ""));
        let h = HandlerCall::parse("s.active \"false\"").unwrap();
        assert_eq!(h.value, "false");
        assert!(HandlerCall::parse("  ").is_err());
    }

    #[test]
    fn data_unparses_to_a_rereadable_form() {
        assert_eq!(unparse_data(b"hi"), "\"hi\"");
        assert_eq!(unparse_data(&[8, 0, 1, 2, 3]), "\\<08000102 03>");
        assert_eq!(unparse_rate(2.0), "2");
        assert_eq!(unparse_rate(2.5), "2.5");
    }

    #[test]
    fn rates_print_as_rounded_float_formatting_would() {
        for r in [
            0.0,
            1.0,
            2.5,
            0.1,
            0.0004,
            0.0006,
            1.25,
            99.999,
            99.9996,
            1234.5678,
            16.0625,
            1e14 + 0.25,
            1e15 + 0.5,
            1e15 + 1.5,
            3e15,
            1e20,
            -2.5,
            -0.125,
        ] {
            let reference = {
                let s = format!("{r:.3}");
                if r == trunc(r) || fabs(r) >= 1e15 {
                    format!("{r:.0}")
                } else {
                    s.trim_end_matches('0').trim_end_matches('.').to_string()
                }
            };
            assert_eq!(unparse_rate(r), reference, "{r}");
        }
        assert_eq!(unparse_rate(f64::NAN), "NaN");
        assert_eq!(unparse_rate(f64::INFINITY), "inf");
    }
}
