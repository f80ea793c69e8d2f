//! Scheduling of the process's threads, so admission answers come before the sync's work.
//!
//! In: the calling thread. Out: its scheduling changed, on Linux; elsewhere, and when the
//! kernel refuses, nothing changes (logged at debug: a scheduling hint is never worth
//! failing for). The webhook's worker threads ask for a short time slice
//! ([`latency_sensitive`]: `sched_setattr` with `sched_runtime`, which the EEVDF scheduler
//! of Linux 6.12 and later reads as the thread's slice, so a worker waking with a review
//! preempts a thread running a longer slice instead of waiting for it to end; older
//! kernels ignore it). The threads of everything else in `run` (the actor system with its
//! watches, decoding, scoring and status writes, and the ops server) run at a lower
//! priority ([`background`]: nice [`BACKGROUND_NICE`]), so when they compete with a
//! webhook worker for a CPU the worker gets most of it. Neither needs a privilege: a thread
//! may shorten its own slice and raise its own nice value.

use std::time::Duration;

/// The slice a webhook worker asks for: the shortest the kernel grants. A review takes
/// tens of microseconds; a longer one simply takes several slices.
pub const WEBHOOK_SLICE: Duration = Duration::from_micros(100);

/// The nice value of the controller's threads other than the webhook's: a weight about a
/// third of a default thread's (1024 against 335), so the sync still gets a fair share
/// against everything else on the machine at the same nice value but yields to admission.
pub const BACKGROUND_NICE: i32 = 5;

/// Asks the scheduler for a [`WEBHOOK_SLICE`] slice for the calling thread.
pub fn latency_sensitive() {
    if let Err(error) = imp::set_slice(WEBHOOK_SLICE) {
        tracing::debug!(%error, "cannot shorten a webhook worker's time slice");
    }
}

/// Lowers the calling thread, and every thread it starts from now on, to nice
/// [`BACKGROUND_NICE`] (never raises it).
pub fn background() {
    if let Err(error) = imp::lower_to(BACKGROUND_NICE) {
        tracing::debug!(%error, "cannot lower a thread's priority");
    }
}

/// The calling thread's time slice and nice value as the kernel reports them (tests).
pub fn current() -> std::io::Result<(Duration, i32)> {
    imp::current()
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io::{Error, Result};
    use std::time::Duration;

    fn attr() -> libc::sched_attr {
        libc::sched_attr {
            size: std::mem::size_of::<libc::sched_attr>() as u32,
            sched_policy: 0,
            sched_flags: 0,
            sched_nice: 0,
            sched_priority: 0,
            sched_runtime: 0,
            sched_deadline: 0,
            sched_period: 0,
        }
    }

    pub fn current() -> Result<(Duration, i32)> {
        let mut a = attr();
        let size = a.size;
        // SAFETY: the kernel writes at most `size` bytes into `a`, which is that large.
        let rc = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut a, size, 0) };
        if rc != 0 {
            return Err(Error::last_os_error());
        }
        Ok((Duration::from_nanos(a.sched_runtime), a.sched_nice))
    }

    fn set(nice: i32, slice: u64) -> Result<()> {
        let mut a = attr();
        a.sched_policy = libc::SCHED_OTHER as u32;
        a.sched_nice = nice;
        a.sched_runtime = slice;
        // SAFETY: `a` is a complete sched_attr whose `size` says so; the kernel only reads it.
        let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &a, 0) };
        if rc != 0 {
            return Err(Error::last_os_error());
        }
        Ok(())
    }

    pub fn set_slice(slice: Duration) -> Result<()> {
        let (_, nice) = current()?;
        set(nice, u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX))
    }

    pub fn lower_to(nice: i32) -> Result<()> {
        let (_, now) = current()?;
        if now >= nice {
            return Ok(());
        }
        // The kernel's default slice: background threads ask for none of their own.
        set(nice, 0)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io::{Error, ErrorKind, Result};
    use std::time::Duration;

    fn unsupported() -> Error {
        Error::new(
            ErrorKind::Unsupported,
            "thread scheduling is only set on Linux",
        )
    }

    pub fn current() -> Result<(Duration, i32)> {
        Err(unsupported())
    }

    pub fn set_slice(_: Duration) -> Result<()> {
        Err(unsupported())
    }

    pub fn lower_to(_: i32) -> Result<()> {
        Err(unsupported())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_worker_gets_the_short_slice_and_keeps_its_nice_value() {
        let (slice, nice) = std::thread::spawn(|| {
            latency_sensitive();
            current()
        })
        .join()
        .expect("thread")
        .expect("sched_getattr");
        assert_eq!(slice, WEBHOOK_SLICE);
        assert_eq!(nice, current().expect("sched_getattr").1);
    }

    #[test]
    fn background_threads_are_lowered_and_their_new_threads_inherit_it() {
        let (own, inherited) = std::thread::spawn(|| {
            background();
            let own = current().expect("sched_getattr").1;
            let inherited = std::thread::spawn(|| current().expect("sched_getattr").1)
                .join()
                .expect("thread");
            (own, inherited)
        })
        .join()
        .expect("thread");
        let before = current().expect("sched_getattr").1;
        assert_eq!(own, before.max(BACKGROUND_NICE));
        assert_eq!(inherited, own);
    }
}
