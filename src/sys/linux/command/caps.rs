//! The capabilities the running kernel and this process have.
//!
//! Takes nothing (or the plan's [`Process`]); returns the kernel's last capability number
//! ([`last_cap`]), those this process can pass on, in both its permitted and its bounding set
//! ([`available`]), and those a plan lists that it cannot ([`unavailable`]). The `capget` and
//! `capset` structures are here too.

use crate::model::{CAP_NAMES, CapSet, CapsAsked, Process};

#[repr(C)]
pub(super) struct CapHeader {
    pub(super) version: u32,
    pub(super) pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct CapData {
    pub(super) effective: u32,
    pub(super) permitted: u32,
    pub(super) inheritable: u32,
}

pub(super) const CAP_V3: u32 = 0x2008_0522;

/// The highest capability number the running kernel has: `PR_CAPBSET_READ` of a number it
/// does not know is EINVAL. Starts at the last one mountplan knows (40, Linux 5.9): two calls
/// on a current kernel.
pub(super) fn last_cap() -> u32 {
    // SAFETY: prctl(PR_CAPBSET_READ) takes integers only.
    let known = |n: u32| unsafe {
        libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(n), 0, 0, 0) >= 0
    };
    let mut n = CAP_NAMES.len() as u32 - 1;
    if known(n) {
        while n < 63 && known(n + 1) {
            n += 1;
        }
    } else {
        while n > 0 && !known(n) {
            n -= 1;
        }
    }
    n
}

/// The capabilities `process` lists that this process cannot pass on (it lacks them in its
/// permitted or bounding set, as under a caller whose bounding set was narrowed).
/// Only a list counts: the default set and `"all"` take what there is.
pub fn unavailable(process: &Process) -> CapSet {
    if process.asked != CapsAsked::Listed {
        return CapSet::EMPTY;
    }
    let last = last_cap();
    CapSet::from_bits(process.caps.bits() & !available(last))
        .iter()
        .filter(|c| u32::from(c.number()) <= last)
        .fold(CapSet::EMPTY, |mut s, c| {
            s.insert(c);
            s
        })
}

/// The capabilities this process has in both its permitted and its bounding set (bit N for
/// capability N, up to `last`).
pub(super) fn available(last: u32) -> u64 {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capget writes two CapData (version 3) into `data`.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    let permitted = if r == 0 {
        u64::from(data[0].permitted) | (u64::from(data[1].permitted) << 32)
    } else {
        0
    };
    let mut bounding = 0u64;
    for n in 0..=last.min(63) {
        // SAFETY: prctl(PR_CAPBSET_READ) takes integers only.
        if unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(n), 0, 0, 0) } == 1 {
            bounding |= 1 << n;
        }
    }
    permitted & bounding
}
