//! A small edit plan read from the first bytes of a fuzz input; the rest of
//! the input is the binary to rewrite.

/// How many leading bytes the plan takes.
pub const PLAN_LEN: usize = 4;

/// The plan bytes: which edits to make, which existing name to pick, and
/// the lengths of the new names.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub flags: u8,
    pub pick: u8,
    pub len_a: u8,
    pub len_b: u8,
}

impl Plan {
    /// Splits an input into the plan and the binary.
    pub fn split(data: &[u8]) -> Option<(Plan, &[u8])> {
        if data.len() < PLAN_LEN {
            return None;
        }
        let plan = Plan { flags: data[0], pick: data[1], len_a: data[2], len_b: data[3] };
        Some((plan, &data[PLAN_LEN..]))
    }

    /// Whether edit `bit` is on.
    pub fn has(&self, bit: u8) -> bool {
        self.flags & (1 << bit) != 0
    }

    /// Picks one of `n` existing items.
    pub fn pick(&self, n: usize, salt: u8) -> Option<usize> {
        (n > 0).then(|| usize::from(self.pick ^ salt) % n)
    }
}

/// A fresh name (never present in a real binary): `prefix`, then `len`
/// derived from `len_byte` (usually short, sometimes long enough that it
/// cannot fit), then `suffix`.
pub fn name(prefix: &str, len_byte: u8, suffix: &str) -> String {
    let len = if len_byte < 224 { usize::from(len_byte % 40) + 1 } else { usize::from(len_byte - 223) * 40 };
    let body: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    format!("{prefix}{body}{suffix}")
}

/// True when `name` occurs nowhere in `bin`. The checks after a rewrite
/// assume the new names are fresh; libFuzzer learns them from comparisons
/// and plants them in inputs, so such inputs are skipped.
pub fn fresh(bin: &[u8], name: &str) -> bool {
    let n = name.as_bytes();
    // compare case-insensitively: PE DLL names match that way
    !bin.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}
