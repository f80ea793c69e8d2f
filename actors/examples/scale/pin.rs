//! CPU pinning for the scale harness (`--pin`): the test server and the harness on one CPU,
//! the controller (and `analyze`) on the other, as when the API server runs elsewhere.
//!
//! In: a CPU number. Out: this process's (or a child's) affinity set to that CPU alone,
//! with `sched_setaffinity`; threads started later inherit it. And for the review client's
//! thread, a short time slice (`sched_setattr` with `sched_runtime`, read by the EEVDF
//! scheduler of Linux 6.12+), so the harness's own load delays the client less.

use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::bail;

/// The CPU of the test server, the harness and its load threads.
pub const HARNESS_CPU: usize = 0;
/// The CPU of the controller.
pub const CONTROLLER_CPU: usize = 1;

fn set(cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes within it for cpu below
    // CPU_SETSIZE (checked by the callers' use of 0 and 1), and sched_setaffinity reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Pins the calling thread, and every thread it starts from now on, to `cpu`.
pub fn to_cpu(cpu: usize) -> anyhow::Result<()> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        bail!("--pin needs two CPUs, this machine has {cpus}");
    }
    Ok(set(cpu)?)
}

/// Starts `command`'s process pinned to `cpu`.
pub fn child_on(command: &mut Command, cpu: usize) {
    // SAFETY: between fork and exec only sched_setaffinity is called, which is
    // async-signal-safe and allocates nothing.
    unsafe {
        command.pre_exec(move || set(cpu));
    }
}

/// Asks the scheduler for a 100 µs time slice for the calling thread (Linux 6.12+ lets a
/// thread with a shorter slice preempt a running one when it wakes; older kernels ignore
/// it). Best effort: a refusal changes nothing.
pub fn short_slice() {
    // SAFETY: a zeroed sched_attr is valid; `size` says how large it is and the kernel only
    // reads it. Policy SCHED_OTHER and nice 0, as the thread had.
    unsafe {
        let mut attr: libc::sched_attr = std::mem::zeroed();
        attr.size = std::mem::size_of::<libc::sched_attr>() as u32;
        attr.sched_policy = libc::SCHED_OTHER as u32;
        attr.sched_runtime = 100_000;
        let _ = libc::syscall(libc::SYS_sched_setattr, 0, &attr, 0);
    }
}
