//! Peak heap of one admission review, the largest the webhook accepts.
//!
//! In: nothing. Out: for each review shape, its size and the most heap held at once while
//! it is parsed and judged (`parse_review` + `review`, what the webhook's handler does per
//! request), counted by a global allocator that sees every allocation. Shapes, each an
//! UPDATE of a Pod (object and oldObject) of about 2.6 MB, the size that raised the webhook
//! by 460 MB before containers per pod were bounded:
//! many minimal containers (over the bound: denied from the slim read), and 1,000 containers
//! with long environments (at the bound: decoded and judged).
//!
//! ```sh
//! cargo run --release --example review_memory
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use kube_devops::admission::{PolicySnapshot, parse_review, review};
use kube_devops::policy::{DevOpsPolicySpec, NamespaceExclusions};
use serde_json::{Value, json};

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: isize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counters are
// only read, never used to decide anything about memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size as isize - layout.size() as isize);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn pod(containers: usize, env_per_container: usize, image: &str) -> Value {
    let list: Vec<Value> = (0..containers)
        .map(|i| {
            let env: Vec<Value> = (0..env_per_container)
                .map(|e| json!({"name": format!("VARIABLE_{e}"), "value": "x".repeat(40)}))
                .collect();
            json!({"name": format!("c{i}"), "image": image, "env": env})
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "big", "namespace": "shop"},
           "spec": {"containers": list}})
}

fn update(new: &Value, old: &Value) -> Vec<u8> {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "m-1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "namespace": "shop", "name": "big", "operation": "UPDATE",
                    "object": new, "oldObject": old}
    })
    .to_string()
    .into_bytes()
}

fn measure(name: &str, body: &[u8], snapshot: &PolicySnapshot) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let allowed = match parse_review(body) {
        Ok(request) => match review(&request, snapshot, jiff::Timestamp::now()) {
            Ok(verdict) => verdict.response.allowed.to_string(),
            Err(e) => format!("error: {e}"),
        },
        Err(e) => format!("refused: {e}"),
    };
    let peak = PEAK.load(Ordering::Relaxed) - before;
    println!(
        "{name:<44} {:>9.1} KB body   peak heap {:>9.1} KB ({:>4.1} x body)   allowed: {allowed}",
        body.len() as f64 / 1e3,
        peak as f64 / 1e3,
        peak as f64 / body.len() as f64
    );
}

fn main() {
    let spec = DevOpsPolicySpec {
        forbid_latest_tag: Some(true),
        ..DevOpsPolicySpec::default()
    };
    let snapshot =
        PolicySnapshot::from_policies([("shop", "p", &spec)], NamespaceExclusions::default());
    let wide = update(&pod(24_000, 0, "nginx:1.27"), &pod(24_000, 0, "nginx:1.26"));
    measure("24,000 minimal containers per side", &wide, &snapshot);
    let heavy = update(&pod(1_000, 14, "nginx:1.27"), &pod(1_000, 14, "nginx:1.26"));
    measure(
        "1,000 containers, 14 env vars each, per side",
        &heavy,
        &snapshot,
    );
    let small = update(&pod(3, 2, "nginx:1.27"), &pod(3, 2, "nginx:1.26"));
    measure("3 containers (an ordinary pod)", &small, &snapshot);
}
