//! Resource quantities in the form the API server stores them
//! (`resource.Quantity`'s canonical form): `cpu: "0.5"` is stored as `500m`,
//! `memory: 2048Mi` as `2Gi`, `1000` as `1k`. Rendering the canonical form
//! keeps the operator's "nothing to change" test true against what the
//! server returns, so a settled resource is never re-applied.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::ResourceRequirements, apimachinery::pkg::api::resource::Quantity,
};

/// Decimal suffixes by power of ten, from nano to exa.
const DECIMAL: [(&str, i32); 10] = [
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

/// Binary suffixes by power of 1024.
const BINARY: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// How a quantity was written; the canonical form keeps it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

/// A parsed quantity: its value in nano-units (exact) and its format.
fn parse(text: &str) -> Option<(i128, Format)> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let number_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.len() > 9 {
        return None;
    }
    let digits = |s: &str| -> Option<i128> {
        if s.is_empty() {
            Some(0)
        } else {
            s.parse().ok()
        }
    };
    // The number as an integer count of 10^-len(fraction).
    let scaled = digits(whole)?
        .checked_mul(10i128.pow(fraction.len() as u32))?
        .checked_add(digits(fraction)?)?;
    let to_nano = |value: i128, pow10: i32| -> Option<i128> {
        let shift = 9 + pow10 - fraction.len() as i32;
        if shift >= 0 {
            value.checked_mul(10i128.checked_pow(shift as u32)?)
        } else {
            let divisor = 10i128.checked_pow((-shift) as u32)?;
            (value % divisor == 0).then(|| value / divisor)
        }
    };
    let (nanos, format) = if let Some(power) = BINARY.iter().skip(1).position(|s| *s == suffix) {
        let factor = 1024i128.pow(power as u32 + 1);
        (to_nano(scaled.checked_mul(factor)?, 0)?, Format::BinarySi)
    } else if let Some((_, pow10)) = DECIMAL.iter().find(|(s, _)| *s == suffix) {
        (to_nano(scaled, *pow10)?, Format::DecimalSi)
    } else {
        let exponent = suffix.strip_prefix(['e', 'E'])?.parse::<i32>().ok()?;
        (to_nano(scaled, exponent)?, Format::DecimalExponent)
    };
    Some((if negative { -nanos } else { nanos }, format))
}

/// The canonical text of `text`, or `None` when it is not a quantity this
/// module can represent exactly (then it is left as written).
pub fn canonical(text: &str) -> Option<String> {
    let (nanos, format) = parse(text)?;
    let sign = if nanos < 0 { "-" } else { "" };
    let magnitude = nanos.abs();
    const UNIT: i128 = 1_000_000_000;
    if format == Format::BinarySi && magnitude >= 1024 * UNIT && magnitude % UNIT == 0 {
        let (mut value, mut power) = (magnitude / UNIT, 0);
        while value % 1024 == 0 && power < BINARY.len() - 1 {
            value /= 1024;
            power += 1;
        }
        return Some(format!("{sign}{value}{}", BINARY[power]));
    }
    let (mut value, mut pow10) = (magnitude, -9);
    if value == 0 {
        return Some("0".to_owned());
    }
    while value % 1000 == 0 && pow10 < 18 {
        value /= 1000;
        pow10 += 3;
    }
    let suffix = match format {
        Format::DecimalExponent if pow10 == 0 => String::new(),
        Format::DecimalExponent => format!("e{pow10}"),
        _ => DECIMAL.iter().find(|(_, p)| *p == pow10)?.0.to_owned(),
    };
    Some(format!("{sign}{value}{suffix}"))
}

/// `requirements` with every quantity in canonical form.
pub fn canonical_resources(mut requirements: ResourceRequirements) -> ResourceRequirements {
    let canonical_map = |map: &mut Option<BTreeMap<String, Quantity>>| {
        for quantity in map.iter_mut().flat_map(|m| m.values_mut()) {
            if let Some(text) = canonical(&quantity.0) {
                quantity.0 = text;
            }
        }
    };
    canonical_map(&mut requirements.requests);
    canonical_map(&mut requirements.limits);
    requirements
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn quantities_take_the_form_the_api_server_stores() {
        for (written, stored) in [
            ("0.5", "500m"),
            ("1.0", "1"),
            ("100m", "100m"),
            ("1000m", "1"),
            ("1500", "1500"),
            ("1000", "1k"),
            ("1G", "1G"),
            ("2000M", "2G"),
            ("1.5G", "1500M"),
            ("128Mi", "128Mi"),
            ("2048Mi", "2Gi"),
            ("1.5Gi", "1536Mi"),
            ("512", "512"),
            ("0.5Ki", "512"),
            ("1e3", "1e3"),
            ("12e2", "1200"),
            ("0", "0"),
            ("-0.5", "-500m"),
        ] {
            assert_eq!(canonical(written).as_deref(), Some(stored), "{written}");
        }
    }

    #[test]
    fn what_is_not_an_exact_quantity_is_left_alone() {
        for text in ["", "abc", "1Xi", "0.0000000001", "1.2.3"] {
            assert_eq!(canonical(text), None, "{text}");
        }
    }
}
