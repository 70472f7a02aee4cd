//! PostgreSQL `numeric` from Arrow decimals of any width, exactly: text form and the
//! binary send form (base-10000 digits), never through a float or a 28-digit type.

use bytes::{BufMut, BytesMut};

/// Writes the text form of `unscaled × 10^-scale` (`-12.340` for -12340 at scale 3).
pub(crate) fn write_text(unscaled: &str, scale: u32, out: &mut BytesMut) {
    let (negative, digits) = split_sign(unscaled);
    if negative {
        out.put_u8(b'-');
    }
    let scale = scale as usize;
    if scale == 0 {
        out.put_slice(digits.as_bytes());
        return;
    }
    if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.put_slice(int.as_bytes());
        out.put_u8(b'.');
        out.put_slice(frac.as_bytes());
    } else {
        out.put_slice(b"0.");
        for _ in digits.len()..scale {
            out.put_u8(b'0');
        }
        out.put_slice(digits.as_bytes());
    }
}

/// Writes the binary send form: ndigits, weight, sign, dscale, then base-10000 digits.
pub(crate) fn write_binary(unscaled: &str, scale: u32, out: &mut BytesMut) {
    let (negative, digits) = split_sign(unscaled);
    let scale_usize = scale as usize;
    // Integer and fraction digits as decimal strings, the fraction exactly `scale` long.
    let (int, frac): (String, String) = if digits.len() > scale_usize {
        let (i, f) = digits.split_at(digits.len() - scale_usize);
        (i.to_string(), f.to_string())
    } else {
        (
            String::new(),
            format!("{}{digits}", "0".repeat(scale_usize - digits.len())),
        )
    };
    // Pad to whole base-10000 groups: integer digits on the left, fraction on the right.
    let int_pad = (4 - int.len() % 4) % 4;
    let frac_pad = (4 - frac.len() % 4) % 4;
    let int = format!("{}{int}", "0".repeat(int_pad));
    let frac = format!("{frac}{}", "0".repeat(frac_pad));
    let group = |s: &str| -> Vec<i16> {
        s.as_bytes()
            .chunks(4)
            .map(|c| c.iter().fold(0i16, |acc, d| acc * 10 + i16::from(d - b'0')))
            .collect()
    };
    let int_groups = group(&int);
    let frac_groups = group(&frac);
    let mut weight = int_groups.len() as i32 - 1;
    let mut groups: Vec<i16> = int_groups.into_iter().chain(frac_groups).collect();
    // Leading zero groups shift the weight down; trailing ones are implied by dscale.
    let leading = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading);
    weight -= leading as i32;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    out.put_i16(groups.len() as i16);
    out.put_i16(weight as i16);
    out.put_u16(if negative && !groups.is_empty() {
        0x4000
    } else {
        0x0000
    });
    out.put_u16(scale as u16);
    for g in groups {
        out.put_i16(g);
    }
}

/// Unsigned integers the digit loops run on: `u64` when the value fits, since a
/// 128-bit division is a library call several times slower.
trait Magnitude:
    Copy
    + PartialEq
    + From<u32>
    + std::ops::Div<Output = Self>
    + std::ops::Rem<Output = Self>
    + std::ops::Mul<Output = Self>
{
    /// The value as a small number (callers only pass values below 10 000).
    fn small(self) -> u16;
}

impl Magnitude for u64 {
    fn small(self) -> u16 {
        self as u16
    }
}

impl Magnitude for u128 {
    fn small(self) -> u16 {
        self as u16
    }
}

/// The decimal digits of `value`, most significant first, in `buffer`.
fn digits<T: Magnitude>(mut value: T, buffer: &mut [u8; 40]) -> &[u8] {
    let ten = T::from(10);
    let zero = T::from(0);
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (value % ten).small() as u8;
        value = value / ten;
        if value == zero {
            return &buffer[at..];
        }
    }
}

/// `10^exponent`.
fn power_of_ten<T: Magnitude>(exponent: u32) -> T {
    let mut power = T::from(1);
    for _ in 0..exponent {
        power = power * T::from(10);
    }
    power
}

/// Base-10000 groups of `magnitude × 10^-scale`, least significant first: the
/// fraction padded to whole groups, then the integer part. Returns how many groups
/// there are and how many of them are integer groups.
fn base_10000<T: Magnitude>(magnitude: T, scale: u32, groups: &mut [i16; 40]) -> (usize, i32) {
    let zero = T::from(0);
    let group = T::from(10_000);
    let divisor = power_of_ten::<T>(scale);
    let (mut int, frac) = (magnitude / divisor, magnitude % divisor);
    let pad = (4 - scale % 4) % 4;
    let mut frac = frac * power_of_ten::<T>(pad);
    let mut n = 0;
    for _ in 0..(scale + pad) / 4 {
        groups[n] = (frac % group).small() as i16;
        frac = frac / group;
        n += 1;
    }
    let mut int_groups = 0;
    while int != zero {
        groups[n] = (int % group).small() as i16;
        int = int / group;
        n += 1;
        int_groups += 1;
    }
    (n, int_groups)
}

/// [`write_text`] for 128-bit decimals, without allocating.
pub(crate) fn write_text_i128(unscaled: i128, scale: u32, out: &mut BytesMut) {
    if unscaled < 0 {
        out.put_u8(b'-');
    }
    let mut buffer = [0u8; 40];
    let magnitude = unscaled.unsigned_abs();
    let digits = match u64::try_from(magnitude) {
        Ok(small) => digits(small, &mut buffer),
        Err(_) => digits(magnitude, &mut buffer),
    };
    let scale = scale as usize;
    if scale == 0 {
        out.put_slice(digits);
    } else if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.put_slice(int);
        out.put_u8(b'.');
        out.put_slice(frac);
    } else {
        out.put_slice(b"0.");
        for _ in digits.len()..scale {
            out.put_u8(b'0');
        }
        out.put_slice(digits);
    }
}

/// [`write_binary`] for 128-bit decimals: base-10000 digits by integer arithmetic.
pub(crate) fn write_binary_i128(unscaled: i128, scale: u32, out: &mut BytesMut) {
    // 10^(scale + padding) must fit in u128; wider scales take the general path.
    if scale > 34 {
        return write_binary(&unscaled.to_string(), scale, out);
    }
    let magnitude = unscaled.unsigned_abs();
    let mut groups = [0i16; 40];
    // The fraction times 10^3 (its padding to whole groups) must fit in u64 too.
    let (n, int_groups) = match u64::try_from(magnitude) {
        Ok(small) if scale <= 15 => base_10000(small, scale, &mut groups),
        _ => base_10000(magnitude, scale, &mut groups),
    };
    let ordered = &mut groups[..n];
    ordered.reverse();
    let leading = ordered.iter().take_while(|g| **g == 0).count();
    let trailing = ordered[leading..]
        .iter()
        .rev()
        .take_while(|g| **g == 0)
        .count();
    let significant = &ordered[leading..n - trailing];
    let weight = if significant.is_empty() {
        0
    } else {
        int_groups - 1 - leading as i32
    };
    out.put_i16(significant.len() as i16);
    out.put_i16(weight as i16);
    out.put_u16(if unscaled < 0 && !significant.is_empty() {
        0x4000
    } else {
        0
    });
    out.put_u16(scale as u16);
    for g in significant {
        out.put_i16(*g);
    }
}

fn split_sign(unscaled: &str) -> (bool, &str) {
    match unscaled.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, unscaled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres_types::{FromSql, Type};
    use rust_decimal::Decimal;

    fn text(unscaled: &str, scale: u32) -> String {
        let mut out = BytesMut::new();
        write_text(unscaled, scale, &mut out);
        String::from_utf8(out.to_vec()).expect("test value")
    }

    fn binary_roundtrip(unscaled: &str, scale: u32) -> String {
        let mut out = BytesMut::new();
        write_binary(unscaled, scale, &mut out);
        Decimal::from_sql(&Type::NUMERIC, &out)
            .expect("test value")
            .to_string()
    }

    #[test]
    fn text_places_the_point() {
        assert_eq!(text("12340", 3), "12.340");
        assert_eq!(text("-5", 2), "-0.05");
        assert_eq!(text("0", 2), "0.00");
        assert_eq!(text("42", 0), "42");
        assert_eq!(
            text("123456789012345678901234567890123456789012345", 5),
            "1234567890123456789012345678901234567890.12345"
        );
    }

    #[test]
    fn binary_matches_postgres_decoding() {
        for (unscaled, scale, expected) in [
            ("12340", 3, "12.340"),
            ("-5", 2, "-0.05"),
            ("0", 2, "0.00"),
            ("100000000", 0, "100000000"),
            ("123456789", 4, "12345.6789"),
            ("1", 10, "0.0000000001"),
            ("-99999", 1, "-9999.9"),
        ] {
            assert_eq!(
                binary_roundtrip(unscaled, scale),
                expected,
                "{unscaled}e-{scale}"
            );
        }
    }

    #[test]
    fn the_128_bit_paths_match_the_general_ones() {
        for (unscaled, scale) in [
            (12340i128, 3u32),
            (-5, 2),
            (0, 2),
            (100_000_000, 0),
            (123_456_789, 4),
            (1, 10),
            (-99_999, 1),
            (i128::MAX, 0),
            (i128::MIN + 1, 20),
            (42, 34),
            (42, 38),
            // Around the narrower type's limits: u64::MAX, and the largest scale it takes.
            (i128::from(u64::MAX), 0),
            (i128::from(u64::MAX), 15),
            (i128::from(u64::MAX) + 1, 15),
            (-i128::from(u64::MAX), 16),
            (999_999_999_999_999, 15),
            (1_000_000_000_000_001, 15),
            (-123_456_789_012_345_678, 19),
        ] {
            let (mut fast, mut general) = (BytesMut::new(), BytesMut::new());
            write_text_i128(unscaled, scale, &mut fast);
            write_text(&unscaled.to_string(), scale, &mut general);
            assert_eq!(fast, general, "text {unscaled}e-{scale}");
            let (mut fast, mut general) = (BytesMut::new(), BytesMut::new());
            write_binary_i128(unscaled, scale, &mut fast);
            write_binary(&unscaled.to_string(), scale, &mut general);
            assert_eq!(fast, general, "binary {unscaled}e-{scale}");
        }
    }

    #[test]
    fn binary_layout_of_wide_values() {
        // 10^40 + 1: more digits than any 128-bit type can decode.
        let mut out = BytesMut::new();
        write_binary(&format!("1{}1", "0".repeat(39)), 0, &mut out);
        let ndigits = i16::from_be_bytes([out[0], out[1]]);
        let weight = i16::from_be_bytes([out[2], out[3]]);
        assert_eq!((ndigits, weight), (11, 10));
    }
}
