//! Memory per tracked pod in the live score state.
//!
//! In: a pod count (default 100,000) and a namespace count (default 50). Out: the heap the
//! `ScoreBoard` holds once every pod is on it, and the heap the `PodStore` (the facts the
//! controller keeps to re-judge namespaces, with their scores) holds for the same pods,
//! twice: as replicas of Deployments (10 pods per ReplicaSet, sharing their template) and
//! as bare pods (no sibling to share with: the worst case). Bytes asked of the allocator,
//! live allocations and the resident set growth, per pod. Uids are 36-character UUIDs, as
//! the API server assigns them; pod names are as long as a Deployment's; each pod has one
//! container with ports, probes, resources and a security context (the test builder's
//! default), and live status. A counting global allocator sees every allocation the state
//! makes, and nothing else runs while it is filled.
//!
//! ```sh
//! cargo run --release --example board_memory -- 100000 50
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicIsize, Ordering};

use jiff::Timestamp;
use kube_devops::policy::PolicySet;
use kube_devops::score::store::PodStore;
use kube_devops::score::{CheckMask, Penalty, PodScore, ScoreBoard};
use kube_devops::testing::pod;

/// The system allocator, counting live bytes and allocations.
struct Counting;

static BYTES: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counters are
// only read, never used to decide anything about memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        ALLOCATIONS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Resident set size of this process, in bytes (Linux; 0 elsewhere).
fn resident() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn arg(n: usize, default: usize) -> Result<usize, String> {
    match std::env::args().nth(n) {
        None => Ok(default),
        Some(s) => s.parse().map_err(|_| format!("{s:?} is not a count")),
    }
}

fn main() -> ExitCode {
    let (pods, namespaces) = match (arg(1, 100_000), arg(2, 50)) {
        (Ok(p), Ok(n)) if p > 0 && n > 0 => (p, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("usage: board_memory [PODS] [NAMESPACES]: {e}");
            return ExitCode::FAILURE;
        }
        _ => {
            eprintln!("usage: board_memory [PODS] [NAMESPACES]: counts must be positive");
            return ExitCode::FAILURE;
        }
    };
    let uids: Vec<String> = (0..pods)
        .map(|i| {
            format!(
                "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                i.wrapping_mul(2_654_435_761) & 0xffff_ffff,
                i & 0xffff,
                (i >> 4) & 0xfff,
                (i >> 8) & 0xfff,
                i.wrapping_mul(40_503)
            )
        })
        .collect();
    let names: Vec<String> = (0..namespaces).map(|n| format!("team-{n:03}")).collect();

    let measure = |what: &str, fill: &mut dyn FnMut() -> usize| {
        let (bytes_before, allocations_before, rss_before) = (
            BYTES.load(Ordering::Relaxed),
            ALLOCATIONS.load(Ordering::Relaxed),
            resident(),
        );
        let held = fill();
        let bytes = (BYTES.load(Ordering::Relaxed) - bytes_before) as f64;
        let allocations = (ALLOCATIONS.load(Ordering::Relaxed) - allocations_before) as f64;
        let rss = resident().saturating_sub(rss_before) as f64;
        let per_pod = |x: f64| x / pods as f64;
        println!("{what}: {held} pods held");
        println!(
            "  heap asked for:      {:.0} bytes ({:.1} bytes per pod)",
            bytes,
            per_pod(bytes)
        );
        println!(
            "  live allocations:    {:.0} ({:.2} per pod)",
            allocations,
            per_pod(allocations)
        );
        println!(
            "  resident set growth: {:.0} bytes ({:.1} bytes per pod)",
            rss,
            per_pod(rss)
        );
    };
    let mut board = ScoreBoard::new();
    measure("ScoreBoard", &mut || {
        for (i, uid) in uids.iter().enumerate() {
            let score = PodScore {
                penalty: Penalty((i % 17) as u64 * 12),
                checks: CheckMask((i % 64) as u64),
            };
            board.apply(uid, &names[i % namespaces], score);
        }
        board.len()
    });
    println!("namespaces:          {}", board.namespaces().count());
    let policies = PolicySet::default();
    let now: Timestamp = "2026-06-01T00:00:00Z".parse().unwrap_or_default();
    for (label, replicas) in [
        ("PodStore, 10 replicas per ReplicaSet", 10),
        ("PodStore, bare pods", 1),
    ] {
        // One template per controller, built before measuring (the watch builds facts from
        // each event and drops them; the store keeps what it needs).
        let controllers = pods.div_ceil(replicas);
        let templates: Vec<_> = (0..controllers)
            .map(|c| {
                let b = pod("web").image(&format!(
                    "registry.example.com/team-{}/app:1.{}",
                    c % 97,
                    c % 13
                ));
                let b = if replicas > 1 {
                    b.owned_by("ReplicaSet", &format!("web-{c:06}-5d9f7c8b4d"))
                } else {
                    b
                };
                b.status("Running", (c % 3) as i32).facts()
            })
            .collect();
        let mut store = PodStore::new();
        measure(label, &mut || {
            for (i, uid) in uids.iter().enumerate() {
                let mut f = templates[i / replicas].clone();
                f.object.namespace = names[(i / replicas) % namespaces].clone();
                f.object.name = format!("web-{:06}-5d9f7c8b4d-{:05x}", i / replicas, i);
                f.uid = Some(uid.clone());
                store.apply(f, &policies, now);
            }
            store.len()
        });
        println!("  templates shared:    {}", store.template_count());
        drop(store);
    }
    ExitCode::SUCCESS
}
