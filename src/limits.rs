//! Operating-system limits: open file descriptors. Every socket (each SSE stream included)
//! and every file of the store is one; a process that runs out answers nobody, so the soft
//! limit is raised to the hard one at start and streams get at most half of it.

/// Descriptors kept for everything but streams, whatever the limit: the store's files, the
/// listener, logs, and the API's own connections.
const RESERVE_MIN: u64 = 64;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit in force after
/// (`None` if it cannot be read).
pub fn raise_open_files() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        } else {
            tracing::warn!(
                soft = limit.rlim_cur,
                hard = limit.rlim_max,
                "could not raise the open-files limit"
            );
        }
    }
    #[allow(clippy::unnecessary_cast)] // `rlim_t` is `u64` on Linux only
    Some(limit.rlim_cur as u64)
}

/// How many streams may be open at once: `wanted` (`--max-streams`), but never more than
/// half of `open_files` (the soft descriptor limit) and never so many that fewer than
/// [`RESERVE_MIN`] descriptors are left for the rest.
pub fn stream_cap(wanted: usize, open_files: Option<u64>) -> usize {
    let Some(open_files) = open_files else {
        return wanted;
    };
    let reserve = RESERVE_MIN.max(open_files / 2);
    let room = usize::try_from(open_files.saturating_sub(reserve)).unwrap_or(usize::MAX);
    wanted.min(room)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_get_at_most_half_the_descriptors_and_leave_a_reserve() {
        assert_eq!(stream_cap(1000, Some(1 << 20)), 1000);
        assert_eq!(stream_cap(1000, Some(256)), 128);
        assert_eq!(stream_cap(1000, Some(100)), 36);
        assert_eq!(stream_cap(1000, Some(10)), 0);
        assert_eq!(stream_cap(7, None), 7);
    }

    #[test]
    fn the_soft_open_files_limit_is_raised_to_the_hard_one() {
        let nofile = |limit: &mut libc::rlimit| {
            // SAFETY: getrlimit only writes the struct we pass.
            assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, limit) }, 0);
        };
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        nofile(&mut limit);
        // Start below the hard limit (and well above what this test process uses).
        let lowered = libc::rlimit {
            rlim_cur: (limit.rlim_max / 2).max(512).min(limit.rlim_max),
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct we pass.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
        let soft = raise_open_files().expect("the limit is readable");
        nofile(&mut limit);
        assert_eq!(limit.rlim_cur, limit.rlim_max);
        #[allow(clippy::unnecessary_cast)] // `rlim_t` is `u64` on Linux only
        let current = limit.rlim_cur as u64;
        assert_eq!(soft, current);
    }
}
