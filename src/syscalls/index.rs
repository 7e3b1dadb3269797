//! A compile-time index over the syscall names of every table, so that a launch resolves its
//! allowlist with a few bit operations instead of building string sets.
//!
//! stockade is a short-lived process: anything computed at startup (even once, behind a
//! `OnceLock`) is paid again by every launch. So the index is computed by const evaluation and
//! lands in the binary as data:
//! - [`NAMES`]: every name of every table, sorted and unique (the union of the sorted tables),
//!   so that an index's order is the names' order and a [`Set`] iterates in sorted order;
//! - a hash table from name to index, for the lookups of names a profile or a policy gives;
//! - one number per name and architecture, [`NONE`] where the architecture lacks the call;
//! - each group's members with nested groups expanded, as a [`Set`] of indexes.
//!
//! The const functions cannot call `str`'s `Ord` or take `&mut` (stockade's minimum Rust is
//! 1.80), hence the hand-written comparison and the by-value updates. A group that names an
//! unknown syscall or group, or that includes itself, fails the build.

use super::groups::{Group, GROUPS, KNOWN};
use super::{aarch64, x86_64, Arch};

type Table = &'static [(&'static str, u32)];

/// The tables, in [`Arch::ALL`] order.
const TABLES: [Table; 2] = [x86_64::SYSCALLS, aarch64::SYSCALLS];

const fn arch_slot(arch: Arch) -> usize {
    match arch {
        Arch::X86_64 => 0,
        Arch::Aarch64 => 1,
    }
}

/// Byte-wise comparison, the order of `str`'s `Ord` (and of the tables): -1, 0 or 1.
const fn compare(a: &str, b: &str) -> i8 {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return if a[i] < b[i] { -1 } else { 1 };
        }
        i += 1;
    }
    if a.len() < b.len() {
        -1
    } else if a.len() > b.len() {
        1
    } else {
        0
    }
}

/// Walks the union of two sorted tables; `out`, when given room, receives the names.
const fn merge<const N: usize>(a: Table, b: Table) -> (usize, [&'static str; N]) {
    let mut out = [""; N];
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() || j < b.len() {
        let name = if i == a.len() {
            j += 1;
            b[j - 1].0
        } else if j == b.len() {
            i += 1;
            a[i - 1].0
        } else {
            match compare(a[i].0, b[j].0) {
                -1 => {
                    i += 1;
                    a[i - 1].0
                }
                1 => {
                    j += 1;
                    b[j - 1].0
                }
                _ => {
                    i += 1;
                    j += 1;
                    a[i - 1].0
                }
            }
        };
        if n < N {
            out[n] = name;
        }
        n += 1;
    }
    (n, out)
}

/// How many distinct names the tables hold.
pub const LEN: usize = merge::<0>(TABLES[0], TABLES[1]).0;

const NAMES_CONST: [&str; LEN] = merge::<LEN>(TABLES[0], TABLES[1]).1;

/// Every syscall name of every table, sorted and unique: the meaning of an index.
pub static NAMES: [&str; LEN] = NAMES_CONST;

/// Index of `name` in [`NAMES`], for the const evaluation (binary search).
const fn const_index(name: &str) -> Option<usize> {
    let (mut lo, mut hi) = (0, LEN);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match compare(NAMES_CONST[mid], name) {
            -1 => lo = mid + 1,
            1 => hi = mid,
            _ => return Some(mid),
        }
    }
    None
}

/// Slots of the name → index hash table: a power of two, four to eight times [`LEN`], so
/// that probe chains stay short (1.1 slots on average for today's tables, 4 at most) for the
/// price of a few kilobytes.
const SLOTS: usize = (4 * LEN).next_power_of_two();
const EMPTY: u16 = u16::MAX;

/// FNV-1a: short, const-evaluable, and good enough for a few hundred short names. Returns a
/// slot number (below [`SLOTS`]).
const fn hash(name: &[u8]) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < name.len() {
        h ^= name[i] as u32;
        h = h.wrapping_mul(0x0100_0193);
        i += 1;
    }
    // FNV's low bits cluster under linear probing: take the top bits of a Fibonacci
    // multiplication instead.
    (h.wrapping_mul(0x9e37_79b9) >> (32 - SLOTS.trailing_zeros())) as usize
}

/// Open addressing with linear probing, filled at compile time: each slot holds an index into
/// [`NAMES`] or [`EMPTY`]. A lookup hashes the name once and compares one or two names,
/// where a binary search over the whole list compares about nine.
static HASH_SLOTS: [u16; SLOTS] = {
    assert!(LEN < EMPTY as usize);
    let mut slots = [EMPTY; SLOTS];
    let mut i = 0;
    while i < LEN {
        let mut at = hash(NAMES_CONST[i].as_bytes()) % SLOTS;
        while slots[at] != EMPTY {
            at = (at + 1) % SLOTS;
        }
        slots[at] = i as u16;
        i += 1;
    }
    slots
};

/// Index of `name` in [`NAMES`].
pub fn index_of(name: &str) -> Option<usize> {
    let mut at = hash(name.as_bytes()) % SLOTS;
    loop {
        let slot = HASH_SLOTS[at];
        if slot == EMPTY {
            return None;
        }
        let index = usize::from(slot);
        if NAMES[index] == name {
            return Some(index);
        }
        at = (at + 1) % SLOTS;
    }
}

/// The longest probe sequence of any name (for a test that keeps the table sparse).
#[cfg(test)]
pub fn longest_probe() -> usize {
    NAMES
        .iter()
        .map(|name| {
            let mut at = hash(name.as_bytes()) % SLOTS;
            let mut probes = 1;
            while NAMES[usize::from(HASH_SLOTS[at])] != *name {
                at = (at + 1) % SLOTS;
                probes += 1;
            }
            probes
        })
        .max()
        .unwrap_or(0)
}

/// The number of a name absent from an architecture's table.
pub const NONE: u32 = u32::MAX;

/// Each name's number on each architecture, by [`NAMES`] index.
static NUMBERS: [[u32; LEN]; 2] = [numbers(TABLES[0]), numbers(TABLES[1])];

const fn numbers(table: Table) -> [u32; LEN] {
    let mut out = [NONE; LEN];
    // Both lists are sorted and the table's names are among NAMES: one merge walk.
    let (mut i, mut k) = (0, 0);
    while i < table.len() {
        while compare(NAMES_CONST[k], table[i].0) != 0 {
            k += 1;
        }
        out[k] = table[i].1;
        i += 1;
    }
    out
}

/// The number of the name at `index` on `arch`, or [`NONE`].
pub fn number_at(arch: Arch, index: usize) -> u32 {
    NUMBERS[arch_slot(arch)][index]
}

const WORDS: usize = LEN.div_ceil(64);

/// A set of syscalls, as indexes into [`NAMES`]; iterates in name order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Set([u64; WORDS]);

impl Set {
    pub const EMPTY: Set = Set([0; WORDS]);

    /// Every name of every table (`@known`).
    const ALL: Set = {
        let mut set = Set::EMPTY;
        let mut i = 0;
        while i < LEN {
            set = set.with(i);
            i += 1;
        }
        set
    };

    const fn with(mut self, index: usize) -> Set {
        self.0[index / 64] |= 1 << (index % 64);
        self
    }

    const fn union(mut self, other: &Set) -> Set {
        let mut w = 0;
        while w < WORDS {
            self.0[w] |= other.0[w];
            w += 1;
        }
        self
    }

    pub fn insert(&mut self, index: usize) {
        self.0[index / 64] |= 1 << (index % 64);
    }

    /// Takes `index` out; false when it was not in the set.
    pub fn remove(&mut self, index: usize) -> bool {
        let word = &mut self.0[index / 64];
        let had = *word & (1 << (index % 64)) != 0;
        *word &= !(1 << (index % 64));
        had
    }

    pub fn add_all(&mut self, other: &Set) {
        for (w, o) in self.0.iter_mut().zip(other.0) {
            *w |= o;
        }
    }

    /// Takes out every member of `other`; false when none was in the set.
    pub fn remove_all(&mut self, other: &Set) -> bool {
        let mut any = false;
        for (w, o) in self.0.iter_mut().zip(other.0) {
            any |= *w & o != 0;
            *w &= !o;
        }
        any
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The indexes in the set, ascending (so the names come sorted).
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                Some(w * 64 + bit)
            })
        })
    }

    /// The names in the set, sorted.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.iter().map(|i| NAMES[i])
    }
}

const GROUP_COUNT: usize = GROUPS.len();

/// Each group's members with nested groups expanded, in [`GROUPS`] order.
static GROUP_SETS: [Set; GROUP_COUNT] = {
    let mut sets = [Set::EMPTY; GROUP_COUNT];
    let mut g = 0;
    while g < GROUP_COUNT {
        sets[g] = expand(g, 0);
        g += 1;
    }
    sets
};

const fn const_group_index(name: &str) -> Option<usize> {
    let mut g = 0;
    while g < GROUP_COUNT {
        if compare(GROUPS[g].name, name) == 0 {
            return Some(g);
        }
        g += 1;
    }
    None
}

const fn expand(g: usize, depth: usize) -> Set {
    // A chain longer than the number of groups has visited one of them twice.
    assert!(
        depth <= GROUP_COUNT,
        "syscall groups: a group includes itself"
    );
    let group: &Group = &GROUPS[g];
    if compare(group.name, KNOWN) == 0 {
        return Set::ALL;
    }
    let mut set = Set::EMPTY;
    let mut m = 0;
    while m < group.members.len() {
        let member = group.members[m];
        if member.as_bytes()[0] == b'@' {
            let Some(nested) = const_group_index(member) else {
                panic!("syscall groups: a group includes an unknown group");
            };
            set = set.union(&expand(nested, depth + 1));
        } else {
            let Some(index) = const_index(member) else {
                panic!("syscall groups: a member is in no syscall table");
            };
            set = set.with(index);
        }
        m += 1;
    }
    set
}

/// The expanded members of the group called `name`.
pub fn group(name: &str) -> Option<&'static Set> {
    GROUPS
        .iter()
        .position(|g| g.name == name)
        .map(|g| &GROUP_SETS[g])
}
